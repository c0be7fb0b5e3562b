#include "artifacts/local/local_artifact_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <system_error>
#include <thread>

namespace sf::artifacts {

namespace fs = std::filesystem;

namespace {

Error io(const std::string& what, const fs::path& p, const std::string& why) {
  return Error(Errc::io_error, what + " " + p.string() + ": " + why);
}

// A name no artifact can have (segments start with a letter or digit), unique per call.
std::string temp_name() {
  static std::atomic<uint64_t> counter{0};
  return ".put-" + std::to_string(getpid()) + "-" +
         std::to_string(std::hash<std::thread::id>{}(std::this_thread::get_id()) % 100000) + "-" +
         std::to_string(counter++);
}

// Writes `data` to a new file `p` and fsyncs it.
Status write_file(const fs::path& p, std::string_view data) {
  const int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return io("cannot create", p, std::strerror(errno));
  size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      const std::string why = std::strerror(errno);
      ::close(fd);
      return io("cannot write", p, why);
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    const std::string why = std::strerror(errno);
    ::close(fd);
    return io("cannot sync", p, why);
  }
  if (::close(fd) != 0) return io("cannot close", p, std::strerror(errno));
  return ok_status();
}

}  // namespace

Result<std::unique_ptr<LocalArtifactStore>> LocalArtifactStore::open(const fs::path& root) {
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec || !fs::is_directory(root))
    return io("cannot create the artifact folder", root, ec ? ec.message() : "not a folder");
  return std::unique_ptr<LocalArtifactStore>(new LocalArtifactStore(fs::absolute(root)));
}

Status LocalArtifactStore::put(const std::string& name, std::string_view data) {
  SF_TRY(check_artifact_name(name));
  const fs::path target = root_ / name;
  const fs::path dir = target.parent_path();
  // A concurrent remove() may delete a folder it found empty between our create and write:
  // then we create it again.
  Status written = ok_status();
  fs::path tmp;
  for (int attempt = 0; attempt < 3; ++attempt) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return io("cannot create the folder", dir, ec.message());
    tmp = dir / temp_name();
    written = write_file(tmp, data);
    if (written || !fs::is_directory(dir)) break;
  }
  if (!written) return written;
  std::error_code ec;
  fs::rename(tmp, target, ec);
  if (ec) {
    fs::remove(tmp, ec);
    std::error_code ec2;
    if (fs::is_directory(target, ec2))
      return io("cannot store", target, "a folder of artifacts has this name");
    return io("cannot store", target, ec.message());
  }
  return ok_status();
}

Result<std::string> LocalArtifactStore::get(const std::string& name) {
  SF_TRY(check_artifact_name(name));
  const fs::path p = root_ / name;
  std::error_code ec;
  if (!fs::is_regular_file(p, ec)) return Error(Errc::not_found, "no artifact '" + name + "'");
  std::ifstream in(p, std::ios::binary);
  if (!in) return io("cannot read", p, std::strerror(errno));
  std::ostringstream out;
  out << in.rdbuf();
  if (in.bad()) return io("cannot read", p, "read failed");
  return std::move(out).str();
}

Result<std::vector<ArtifactInfo>> LocalArtifactStore::list(const std::string& prefix) {
  std::vector<ArtifactInfo> out;
  // Only the folder the prefix is in can hold matches.
  const size_t slash = prefix.rfind('/');
  const std::string base = slash == std::string::npos ? "" : prefix.substr(0, slash);
  if (!base.empty() && !check_artifact_name(base)) return out;  // no such folder can exist
  const fs::path start = base.empty() ? root_ : root_ / base;
  std::error_code ec;
  if (!fs::is_directory(start, ec)) return out;
  fs::recursive_directory_iterator it(start, ec), end;
  if (ec) return io("cannot list", start, ec.message());
  for (; it != end; it.increment(ec)) {
    if (ec) return io("cannot list", start, ec.message());
    if (!it->is_regular_file(ec)) continue;
    std::string name = fs::relative(it->path(), root_, ec).generic_string();
    if (ec || name.compare(0, prefix.size(), prefix) != 0) continue;
    if (!check_artifact_name(name)) continue;  // a temporary file, or not ours
    const auto size = it->file_size(ec);
    if (ec) continue;  // removed meanwhile
    out.push_back({std::move(name), static_cast<int64_t>(size)});
  }
  std::sort(out.begin(), out.end(),
            [](const ArtifactInfo& a, const ArtifactInfo& b) { return a.name < b.name; });
  return out;
}

Status LocalArtifactStore::remove(const std::string& name) {
  SF_TRY(check_artifact_name(name));
  const fs::path p = root_ / name;
  std::error_code ec;
  if (fs::is_directory(p, ec)) return ok_status();  // a folder is not a blob
  fs::remove(p, ec);
  if (ec) return io("cannot remove", p, ec.message());
  // Folders left empty go too, up to the root (S3 has no folders to leave behind).
  for (fs::path dir = p.parent_path(); dir != root_ && dir.native().size() > root_.native().size();
       dir = dir.parent_path()) {
    if (!fs::is_empty(dir, ec) || ec) break;
    fs::remove(dir, ec);  // fails harmlessly if a put() just created something in it
    if (ec) break;
  }
  return ok_status();
}

std::string LocalArtifactStore::describe() const { return "file:" + root_.string(); }

}  // namespace sf::artifacts
