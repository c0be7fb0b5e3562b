// The simulator's hashing: splitmix64 and a uniform double from it. Every synthetic value
// (prices, quantities, trade times, book levels, faults) is one of these of its coordinates.
#pragma once

#include <cstdint>

namespace sf::exchange::sim {

inline uint64_t splitmix(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// [0, 1) from the top 53 bits.
inline double u01(uint64_t x) { return static_cast<double>(x >> 11) * 0x1p-53; }

}  // namespace sf::exchange::sim
