#include "webui/assets.h"

namespace sf::webui {

const Asset* find(std::string_view path) {
  for (const Asset& a : assets())
    if (a.path == path) return &a;
  return nullptr;
}

}  // namespace sf::webui
