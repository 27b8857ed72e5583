// Helpers shared by the test suites: temporary directories, child processes with pipes, and a
// blocking HTTP GET for checking what a deployed service answers.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace shipmate::testing {

// The repository root and the built shipmate binary (set by CMake).
std::string source_dir();
std::string shipmate_binary();

// A fresh directory under $TMPDIR, removed (recursively) on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

void write_file(const std::string& path, const std::string& content);
std::string read_file(const std::string& path);

// A loopback TCP port that was free a moment ago.
int free_port();

struct HttpResponse {
  int status = 0;
  std::string body;
};
// GET http://127.0.0.1:<port><path>; nullopt when nothing answers within the timeout. The
// default is a guard for a loaded machine; a test that expects no answer passes its own (a
// refused connection fails at once either way).
std::optional<HttpResponse> http_get(int port, const std::string& path,
                                     std::chrono::milliseconds timeout = std::chrono::seconds(20));

// POST http://127.0.0.1:<port><path> with extra headers ("Name: value") and a body.
std::optional<HttpResponse> http_post(int port, const std::string& path,
                                      const std::vector<std::string>& headers,
                                      const std::string& body,
                                      std::chrono::milliseconds timeout = std::chrono::seconds(20));

// A child process with stdin, stdout and stderr on pipes. Stderr is merged into stdout when
// `merge_stderr` is set. The destructor kills the child (SIGKILL) if it is still running.
class Subprocess {
 public:
  Subprocess(const std::vector<std::string>& argv,
             const std::map<std::string, std::string>& env = {}, const std::string& cwd = "",
             bool merge_stderr = true);
  ~Subprocess();
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  void write(const std::string& text);
  void close_stdin();
  // Reads output until `needle` appears (returns true) or the timeout passes (false). Everything
  // read so far is in output().
  // Only output from offset `from` on is searched.
  bool wait_for_output(const std::string& needle,
                       std::chrono::milliseconds timeout = std::chrono::seconds(30),
                       std::size_t from = 0);
  // Waits for exit and returns the exit code (128+signal when killed); reads remaining output.
  int wait(std::chrono::milliseconds timeout = std::chrono::seconds(60));
  void send_signal(int signal);
  const std::string& output() const { return output_; }
  // Output received after the given offset (useful to look only at the latest command's reply).
  std::string output_since(std::size_t offset) const { return output_.substr(offset); }
  int pid() const { return pid_; }

 private:
  bool read_some(std::chrono::milliseconds timeout);

  int pid_ = -1;
  int stdin_fd_ = -1;
  int stdout_fd_ = -1;
  std::string output_;
  std::optional<int> exit_code_;
};

// Runs a command to completion and returns {exit code, combined output}.
std::pair<int, std::string> run_command(const std::vector<std::string>& argv,
                                        const std::string& stdin_text = "",
                                        const std::map<std::string, std::string>& env = {},
                                        const std::string& cwd = "");

}  // namespace shipmate::testing
