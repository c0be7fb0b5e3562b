// The registry of built-in worker roles. A new role registers here.
#include "workers/dummy.h"

namespace sf::workers {

WorkerRegistry WorkerRegistry::builtin() {
  WorkerRegistry r;
  r.add("dummy-service", run_dummy, [](const boost::json::object& settings) -> Status {
    auto s = DummySettings::from_params(settings);
    if (!s) return s.error();
    return {};
  });
  return r;
}

}  // namespace sf::workers
