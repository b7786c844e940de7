vim.o.termguicolors = true
vim.o.number = true
vim.o.signcolumn = "yes"
vim.cmd("colorscheme default")
vim.cmd("hi NormalFloat guibg=#252526 guifg=#d4d4d4")
vim.cmd("hi FloatBorder guibg=#252526 guifg=#808080")
vim.diagnostic.config({ virtual_text = true, float = { border = "rounded" } })
vim.api.nvim_create_autocmd("BufRead", {
  pattern = "*.cnn",
  callback = function(args)
    vim.bo[args.buf].syntax = "conf"
    local id = vim.lsp.start_client({ name = "cnnc", cmd = { "cnnc", "lsp" }, root_dir = "." })
    vim.lsp.buf_attach_client(args.buf, id)
  end,
})
vim.lsp.handlers["textDocument/hover"] = vim.lsp.with(vim.lsp.handlers.hover, { border = "rounded" })
vim.defer_fn(function()
  vim.api.nvim_win_set_cursor(0, { 8, 2 })
  vim.lsp.buf.hover()
end, 3000)
