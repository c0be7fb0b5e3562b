// The web UI (the "visualizer", ui/ at the repository root): every file of its build, embedded
// into the binary at build time (scripts/ui-build, then embed.py; see README.md). The manager's
// HTTP server serves them at their paths, without the bearer token.
//
// Constant data: safe from any thread.
#pragma once

#include <span>
#include <string_view>

namespace sf::webui {

struct Asset {
  std::string_view path;          // the URL path: "/", "/ui/app.js", "/ui/app.css"
  std::string_view content_type;  // e.g. "text/javascript; charset=utf-8"
  std::string_view body;          // the file's bytes
};

// Every file of the built UI: "/" (index.html), "/ui/app.js", "/ui/app.css".
std::span<const Asset> assets();

// The asset served at `path`, or nullptr.
const Asset* find(std::string_view path);

}  // namespace sf::webui
