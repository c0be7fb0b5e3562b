#include "launch/launcher.h"

#include <algorithm>

namespace sf::launch {

bool Launcher::knows(const std::string& target) const {
  auto t = targets();
  return std::find(t.begin(), t.end(), target) != t.end();
}

}  // namespace sf::launch
