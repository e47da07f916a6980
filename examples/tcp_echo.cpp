// examples/tcp_echo.cpp — a TCP echo server and two clients, all coroutines on one event loop.
//
// The server listens on 127.0.0.1 with a port the kernel picks (loopback only), accepts
// connections and echoes each one in its own task until the client closes its side. Each
// client connects, sends a few lines, checks that every line comes back intact, then closes.
// When both clients are done, main cancels the server, which is waiting in sock_accept:
// cancellation at an fd-readiness await point. Exits 0 if every echo matched.
//
//   handoff::run(main)                       one loop, in this thread
//     ├─ serve(listener)          task       sock_accept → create_task(echo(conn)) per client
//     │    └─ echo(conn)          task       sock_recv → sock_sendall, until EOF
//     ├─ client(1), client(2)     tasks      sock_connect, then send / receive / compare
//     └─ server.cancel()                     CancelledError at the pending sock_accept
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <handoff/loop/fd.hpp>
#include <handoff/loop/loop.hpp>

using handoff::Future;
using handoff::Task;

namespace {

// Owns a file descriptor; closes it once.
class Socket {
 public:
  explicit Socket(int fd) : fd_(fd) {
    if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "socket");
  }
  Socket(Socket&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Socket& operator=(Socket&&) = delete;
  ~Socket() {
    if (fd_ >= 0) ::close(fd_);
  }
  int fd() const noexcept { return fd_; }

 private:
  int fd_;
};

Socket tcp_socket() { return Socket(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)); }

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  return a;
}

// A listening socket on 127.0.0.1 and an ephemeral port; returns the port through `port`.
Socket listen_on_loopback(std::uint16_t& port) {
  Socket s = tcp_socket();
  sockaddr_in a = loopback(0);
  socklen_t len = sizeof a;
  if (::bind(s.fd(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(s.fd(), 16) != 0 ||
      ::getsockname(s.fd(), reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    throw std::system_error(errno, std::generic_category(), "listen on 127.0.0.1");
  }
  port = ntohs(a.sin_port);
  return s;
}

// One connection: echo everything back until the client closes its side.
Task<void> echo(Socket conn) {
  char buf[4096];
  for (;;) {
    const std::size_t n = co_await handoff::sock_recv(conn.fd(), buf, sizeof buf);
    if (n == 0) break;  // EOF: the client is done
    co_await handoff::sock_sendall(conn.fd(), buf, n);
  }
}

// Accept connections until cancelled; one task per connection.
Task<void> serve(int listen_fd) {
  std::vector<Future<void>> connections;
  for (;;) {
    Socket conn(co_await handoff::sock_accept(listen_fd));
    connections.push_back(handoff::get_running_loop().create_task(echo(std::move(conn))));
  }
}

// Send `count` lines, read each echo back, compare. Returns how many matched.
Task<int> client(int id, std::uint16_t port, int count) {
  Socket s = tcp_socket();
  const sockaddr_in a = loopback(port);
  co_await handoff::sock_connect(s.fd(), reinterpret_cast<const sockaddr*>(&a), sizeof a);
  int matched = 0;
  for (int i = 0; i < count; ++i) {
    const std::string line = "client " + std::to_string(id) + " says hello #" + std::to_string(i) + "\n";
    co_await handoff::sock_sendall(s.fd(), line.data(), line.size());
    std::string back(line.size(), '\0');
    std::size_t got = 0;
    while (got < back.size()) {
      const std::size_t n = co_await handoff::sock_recv(s.fd(), back.data() + got, back.size() - got);
      if (n == 0) break;  // the server hung up early
      got += n;
    }
    back.resize(got);
    const bool ok = back == line;
    matched += ok ? 1 : 0;
    std::printf("client %d: sent %zu bytes, echo %s\n", id, line.size(), ok ? "matches" : "DIFFERS");
  }
  ::shutdown(s.fd(), SHUT_WR);  // tell the server we are done; it closes, we see EOF
  char c;
  const std::size_t n = co_await handoff::sock_recv(s.fd(), &c, 1);
  if (n != 0) --matched;  // the server sent more than we sent
  co_return matched;
}

Task<int> amain() {
  constexpr int kLines = 3;
  std::uint16_t port = 0;
  Socket listener = listen_on_loopback(port);
  std::printf("echo server on 127.0.0.1:%u\n", static_cast<unsigned>(port));
  handoff::EventLoop& loop = handoff::get_running_loop();
  Future<void> server = loop.create_task(serve(listener.fd()));
  Future<int> c1 = loop.create_task(client(1, port, kLines));
  Future<int> c2 = loop.create_task(client(2, port, kLines));
  const int matched = co_await c1 + co_await c2;
  server.cancel();  // it waits in sock_accept: CancelledError there
  try {
    co_await server;
  } catch (const handoff::CancelledError&) {
    std::printf("server cancelled while waiting for a connection\n");
  }
  std::printf("%d of %d echoes matched\n", matched, 2 * kLines);
  co_return matched == 2 * kLines ? 0 : 1;
}

}  // namespace

int main() {
  try {
    return handoff::run(amain());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tcp_echo: %s\n", e.what());
    return 1;
  }
}
