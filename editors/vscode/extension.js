// Starts `cnnc lsp` for .cnn files; `cnnc.set` and `cnnc.input` are passed
// as the server's initialization options (its `--set` and `--input`).
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate() {
  const config = vscode.workspace.getConfiguration("cnnc");
  const server = { command: config.get("path") || "cnnc", args: ["lsp"] };
  client = new LanguageClient("cnnc", "cnnc", server, {
    documentSelector: [{ language: "cnn" }],
    initializationOptions: { set: config.get("set"), input: config.get("input") },
  });
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
