#!/bin/sh
# Makes hover.png: Neovim (Debian's 0.7.2, hence `vim.lsp.start_client`
# rather than editors/neovim's 0.10 `vim.lsp.start`) in an xterm on a
# virtual X server, with `cnnc` on PATH, captured with xwd and converted
# with ImageMagick. Needs: apt-get install xvfb xterm neovim x11-apps imagemagick
# Run from this folder: xvfb-run -s "-screen 0 1180x600x24" ./screenshot.sh
xterm -geometry 128x30 -fa 'DejaVu Sans Mono' -fs 11 -bg '#1e1e1e' -fg '#d4d4d4' \
  -e nvim -u init.lua demo.cnn &
sleep 7
xwd -root -silent | convert xwd:- -trim hover.png
kill $!
