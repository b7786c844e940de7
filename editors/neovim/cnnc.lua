-- Neovim 0.10+: put this in your init.lua (or ~/.config/nvim/after/ftplugin/cnn.lua
-- without the autocmd). `cnnc` must be on PATH.
vim.filetype.add({ extension = { cnn = "cnn" } })
vim.api.nvim_create_autocmd("FileType", {
  pattern = "cnn",
  callback = function(args)
    vim.bo[args.buf].commentstring = "# %s"
    vim.lsp.start({
      name = "cnnc",
      cmd = { "cnnc", "lsp" },
      root_dir = vim.fs.root(args.buf, { ".git" }) or vim.fn.getcwd(),
      -- The server's --set and --input:
      init_options = { set = { }, input = nil },
    })
  end,
})
-- Inlay hints (each layer's output shape at the end of its line):
vim.api.nvim_create_autocmd("LspAttach", {
  callback = function(args) vim.lsp.inlay_hint.enable(true, { bufnr = args.buf }) end,
})
