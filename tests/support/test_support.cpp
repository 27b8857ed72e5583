#include "tests/support/test_support.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <sstream>
#include <stdexcept>

extern char** environ;

namespace shipmate::testing {

std::string source_dir() {
  return SHIPMATE_SOURCE_DIR;
}
std::string shipmate_binary() {
  return SHIPMATE_BINARY;
}

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base && *base ? base : "/tmp") + "/shipmate-test-XXXXXX";
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  if (mkdtemp(buffer.data()) == nullptr)
    throw std::runtime_error("mkdtemp failed");
  path_ = buffer.data();
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

void write_file(const std::string& path, const std::string& content) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  if (!out)
    throw std::runtime_error("cannot write " + path);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// A port that is free now, below the kernel's ephemeral range: a port from that range (what
// binding to port 0 hands out) can be taken in between by any process's outgoing connection, and
// a test that binds it later (a restarted Shipmate listening on it again) then finds it in use.
// Ports are tried at random so that tests running side by side rarely try the same one.
int free_port() {
  int ephemeral_low = 32768;
  if (std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range"); range)
    range >> ephemeral_low;
  const int low = 10000;
  const int high = std::max(low + 1000, ephemeral_low);  // [low, high)
  // One generator per process, shared by every thread that asks for a port: the lock keeps
  // two threads from racing on its state.
  static std::mutex pick_lock;
  static std::mt19937 pick(static_cast<std::mt19937::result_type>(
      ::getpid() ^ std::chrono::steady_clock::now().time_since_epoch().count()));
  for (int attempt = 0; attempt < 200; ++attempt) {
    unsigned drawn = 0;
    {
      const std::lock_guard hold(pick_lock);
      drawn = static_cast<unsigned>(pick());
    }
    const int port = low + static_cast<int>(drawn % static_cast<unsigned>(high - low));
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
      break;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    const bool free = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    if (free)
      return port;
  }
  throw std::runtime_error("no free port below the ephemeral range");
}

namespace {

std::optional<HttpResponse> exchange(int port, const std::string& request,
                                     std::chrono::milliseconds timeout);

}  // namespace

std::optional<HttpResponse> http_get(int port, const std::string& path,
                                     std::chrono::milliseconds timeout) {
  return exchange(port, "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
                  timeout);
}

std::optional<HttpResponse> http_post(int port, const std::string& path,
                                      const std::vector<std::string>& headers,
                                      const std::string& body, std::chrono::milliseconds timeout) {
  std::string request = "POST " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  for (const auto& header : headers)
    request += header + "\r\n";
  request += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  return exchange(port, request, timeout);
}

namespace {

std::optional<HttpResponse> exchange(int port, const std::string& request,
                                     std::chrono::milliseconds timeout) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return std::nullopt;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto remaining_ms = [&] {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    return static_cast<int>(left < 0 ? 0 : left);
  };
  int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  if (rc != 0 && errno != EINPROGRESS) {
    ::close(fd);
    return std::nullopt;
  }
  pollfd pfd{fd, POLLOUT, 0};
  if (::poll(&pfd, 1, remaining_ms()) <= 0) {
    ::close(fd);
    return std::nullopt;
  }
  int so_error = 0;
  socklen_t len = sizeof so_error;
  ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len);
  if (so_error != 0) {
    ::close(fd);
    return std::nullopt;
  }
  std::size_t sent = 0;
  while (sent < request.size()) {
    ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN) {
        pollfd wp{fd, POLLOUT, 0};
        if (::poll(&wp, 1, remaining_ms()) <= 0)
          break;
        continue;
      }
      ::close(fd);
      return std::nullopt;
    }
    sent += static_cast<std::size_t>(n);
  }
  std::string response;
  char buffer[4096];
  while (true) {
    pollfd rp{fd, POLLIN, 0};
    if (::poll(&rp, 1, remaining_ms()) <= 0)
      break;
    ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0)
      break;
    response.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  if (response.rfind("HTTP/", 0) != 0)
    return std::nullopt;
  HttpResponse out;
  auto space = response.find(' ');
  out.status = std::atoi(response.c_str() + space + 1);
  auto body = response.find("\r\n\r\n");
  if (body != std::string::npos)
    out.body = response.substr(body + 4);
  return out;
}

}  // namespace

Subprocess::Subprocess(const std::vector<std::string>& argv,
                       const std::map<std::string, std::string>& env, const std::string& cwd,
                       bool merge_stderr) {
  int in_pipe[2];
  int out_pipe[2];
  if (::pipe2(in_pipe, O_CLOEXEC) != 0 || ::pipe2(out_pipe, O_CLOEXEC) != 0) {
    throw std::runtime_error("pipe failed");
  }
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry = *e;
    auto eq = entry.find('=');
    if (eq != std::string::npos && env.count(entry.substr(0, eq)) > 0)
      continue;
    env_strings.push_back(entry);
  }
  for (const auto& [key, value] : env)
    env_strings.push_back(key + "=" + value);
  std::vector<char*> envp;
  for (auto& s : env_strings)
    envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = argv;
  std::vector<char*> argvp;
  for (auto& a : args)
    argvp.push_back(a.data());
  argvp.push_back(nullptr);

  pid_ = ::fork();
  if (pid_ < 0)
    throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    ::dup2(in_pipe[0], 0);
    ::dup2(out_pipe[1], 1);
    if (merge_stderr)
      ::dup2(out_pipe[1], 2);
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0)
      _exit(126);
    ::execve(argvp[0], argvp.data(), envp.data());
    _exit(127);
  }
  ::close(in_pipe[0]);
  ::close(out_pipe[1]);
  stdin_fd_ = in_pipe[1];
  stdout_fd_ = out_pipe[0];
}

Subprocess::~Subprocess() {
  if (!exit_code_ && pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  if (stdin_fd_ >= 0)
    ::close(stdin_fd_);
  if (stdout_fd_ >= 0)
    ::close(stdout_fd_);
}

void Subprocess::write(const std::string& text) {
  std::size_t sent = 0;
  while (sent < text.size()) {
    ssize_t n = ::write(stdin_fd_, text.data() + sent, text.size() - sent);
    if (n <= 0)
      throw std::runtime_error("write to child failed");
    sent += static_cast<std::size_t>(n);
  }
}

void Subprocess::close_stdin() {
  if (stdin_fd_ >= 0)
    ::close(stdin_fd_);
  stdin_fd_ = -1;
}

bool Subprocess::read_some(std::chrono::milliseconds timeout) {
  if (stdout_fd_ < 0)
    return false;
  pollfd pfd{stdout_fd_, POLLIN, 0};
  int rc = ::poll(&pfd, 1, static_cast<int>(timeout.count()));
  if (rc <= 0)
    return false;
  char buffer[4096];
  ssize_t n = ::read(stdout_fd_, buffer, sizeof buffer);
  if (n <= 0) {
    ::close(stdout_fd_);
    stdout_fd_ = -1;
    return false;
  }
  output_.append(buffer, static_cast<std::size_t>(n));
  return true;
}

bool Subprocess::wait_for_output(const std::string& needle, std::chrono::milliseconds timeout,
                                 std::size_t from) {
  const std::size_t start = from;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (output_.find(needle, start) == std::string::npos) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || stdout_fd_ < 0) {
      return output_.find(needle, start) != std::string::npos;
    }
    read_some(std::min(left, std::chrono::milliseconds(100)));
  }
  return true;
}

int Subprocess::wait(std::chrono::milliseconds timeout) {
  if (exit_code_)
    return *exit_code_;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    read_some(std::chrono::milliseconds(20));
    int status = 0;
    pid_t rc = ::waitpid(pid_, &status, WNOHANG);
    if (rc == pid_) {
      while (read_some(std::chrono::milliseconds(50))) {
      }
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return *exit_code_;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      exit_code_ = -1;
      return -1;
    }
  }
}

void Subprocess::send_signal(int signal) {
  if (!exit_code_)
    ::kill(pid_, signal);
}

std::pair<int, std::string> run_command(const std::vector<std::string>& argv,
                                        const std::string& stdin_text,
                                        const std::map<std::string, std::string>& env,
                                        const std::string& cwd) {
  Subprocess child(argv, env, cwd);
  if (!stdin_text.empty())
    child.write(stdin_text);
  child.close_stdin();
  int code = child.wait();
  return {code, child.output()};
}

}  // namespace shipmate::testing
