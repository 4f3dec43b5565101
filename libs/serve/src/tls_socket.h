// A TLS connection that OpenSSL reads and writes on the socket itself (SSL_set_fd), for Beast's
// HTTP reads and writes, in place of asio::ssl::stream. Asio's stream pipes every byte through a
// BIO pair and two 17 KiB buffers of its own that each connection holds for its whole life (about
// 70 KiB touched per connection); here a connection holds its SSL object, and OpenSSL's record
// buffers only while a record is in flight (SSL_MODE_RELEASE_BUFFERS). Asio waits for the socket
// to become readable or writable, and OpenSSL does the I/O (docs/adr/0007).
//
// Not thread-safe: one connection, one worker thread (server.cc), which also closes the socket.
// The socket outlives the stream; after it is closed every operation ends with bad_descriptor.
#ifndef BOTSEC_SERVE_SRC_TLS_SOCKET_H_
#define BOTSEC_SERVE_SRC_TLS_SOCKET_H_

#include <cstddef>
#include <memory>
#include <string>
#include <utility>

#include <boost/asio/async_result.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/buffers_prefix.hpp>
#include <boost/beast/core/error.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>

namespace botsec::serve::internal {

class TlsSocket {
 public:
  using Socket = boost::asio::ip::tcp::socket;
  using executor_type = Socket::executor_type;

  // A server-side connection on `socket` (made non-blocking) with `context`'s certificate.
  TlsSocket(Socket& socket, SSL_CTX* context) : socket_(socket), ssl_(SSL_new(context)) {
    boost::beast::error_code ignored;
    socket_.non_blocking(true, ignored);
    if (ssl_) {
      SSL_set_fd(ssl_.get(), static_cast<int>(socket_.native_handle()));
      SSL_set_mode(ssl_.get(), SSL_MODE_RELEASE_BUFFERS);
      SSL_set_accept_state(ssl_.get());
    }
  }

  executor_type get_executor() { return socket_.get_executor(); }

  // handler(error) once the handshake is done or has failed.
  template <typename Handler>
  void AsyncHandshake(Handler&& handler) {
    Step([this] { return SSL_do_handshake(ssl_.get()); },
         [handler = std::forward<Handler>(handler)](boost::beast::error_code error,
                                                    int /*result*/) mutable { handler(error); });
  }

  // Sends close_notify (without waiting for the peer's), then handler(error).
  template <typename Handler>
  void AsyncShutdown(Handler&& handler) {
    Step([this] { return SSL_shutdown(ssl_.get()) >= 0 ? 1 : -1; },
         [handler = std::forward<Handler>(handler)](boost::beast::error_code error,
                                                    int /*result*/) mutable { handler(error); });
  }

  // AsyncReadStream: reads into the first buffer of `buffers`.
  template <typename MutableBufferSequence, typename ReadHandler>
  auto async_read_some(const MutableBufferSequence& buffers, ReadHandler&& handler) {
    return boost::asio::async_initiate<ReadHandler, void(boost::beast::error_code, std::size_t)>(
        ReadInitiation{this}, handler, FirstBuffer(buffers));
  }

  // AsyncWriteStream: the sequence's buffers, up to kMaxWrite bytes, in one TLS record where
  // they fit (a header and its body go out together).
  template <typename ConstBufferSequence, typename WriteHandler>
  auto async_write_some(const ConstBufferSequence& buffers, WriteHandler&& handler) {
    return boost::asio::async_initiate<WriteHandler, void(boost::beast::error_code, std::size_t)>(
        WriteInitiation{this}, handler, buffers);
  }

 private:
  static constexpr std::size_t kMaxWrite = 16384;  // one TLS record's plaintext

  struct ReadInitiation {
    TlsSocket* stream;
    template <typename Handler>
    void operator()(Handler&& done, boost::asio::mutable_buffer buffer) const {
      stream->Transfer(std::forward<Handler>(done), buffer.data(), buffer.size(),
                       /*reading=*/true);
    }
  };
  struct WriteInitiation {
    TlsSocket* stream;
    template <typename Handler, typename ConstBufferSequence>
    void operator()(Handler&& done, const ConstBufferSequence& sequence) const {
      std::string& pending = stream->pending_write_;
      pending.clear();
      for (auto buffer : boost::beast::buffers_prefix(kMaxWrite, sequence)) {
        pending.append(static_cast<const char*>(buffer.data()), buffer.size());
      }
      stream->Transfer(std::forward<Handler>(done), pending.data(), pending.size(),
                       /*reading=*/false);
    }
  };

  struct FreeSsl {
    void operator()(SSL* ssl) const { SSL_free(ssl); }
  };

  template <typename MutableBufferSequence>
  static boost::asio::mutable_buffer FirstBuffer(const MutableBufferSequence& buffers) {
    for (boost::asio::mutable_buffer buffer : boost::beast::buffers_range_ref(buffers)) {
      if (buffer.size() > 0) {
        return buffer;
      }
    }
    return {};
  }

  // The error an OpenSSL call ended with, in Asio's terms: a close_notify is eof, a peer gone
  // without one is stream_truncated (as asio::ssl::stream says them).
  boost::beast::error_code ErrorOf(int result) const {
    int error = SSL_get_error(ssl_.get(), result);
    unsigned long queued = ERR_get_error();  // NOLINT(google-runtime-int): OpenSSL's type
    if (error == SSL_ERROR_ZERO_RETURN) {
      return boost::asio::error::eof;
    }
    if ((error == SSL_ERROR_SYSCALL && queued == 0) ||
        ERR_GET_REASON(queued) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
      return errno != 0 && error == SSL_ERROR_SYSCALL
                 ? boost::beast::error_code(errno, boost::system::system_category())
                 : boost::beast::error_code(boost::asio::ssl::error::stream_truncated);
    }
    return {static_cast<int>(queued != 0 ? queued : SSL_R_UNINITIALIZED),
            boost::asio::error::get_ssl_category()};
  }

  // Runs `call` until it no longer wants the socket, waiting for the socket in between; then
  // done(error, result), never from inside the call that started it.
  template <typename Call, typename Done>
  void Step(Call call, Done done) {
    if (!ssl_) {
      Post(std::move(done), boost::asio::error::no_memory, -1);
      return;
    }
    // OpenSSL holds the descriptor's number, not the socket: once the socket is closed that
    // number may already be another connection's, so nothing reaches OpenSSL after a close.
    if (!socket_.is_open()) {
      Post(std::move(done), boost::asio::error::bad_descriptor, -1);
      return;
    }
    ERR_clear_error();
    errno = 0;
    int result = call();
    if (result > 0) {
      Post(std::move(done), {}, result);
      return;
    }
    int error = SSL_get_error(ssl_.get(), result);
    if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
      socket_.async_wait(error == SSL_ERROR_WANT_READ ? Socket::wait_read : Socket::wait_write,
                         [this, call = std::move(call),
                          done = std::move(done)](boost::beast::error_code waited) mutable {
                           if (waited) {
                             done(waited, -1);  // from the wait's completion: not inline
                             return;
                           }
                           Step(std::move(call), std::move(done));
                         });
      return;
    }
    Post(std::move(done), ErrorOf(result), -1);
  }

  // One read and one write at most in flight (Beast's HTTP operations), each with its count.
  template <typename Handler>
  void Transfer(Handler handler, void* data, std::size_t size, bool reading) {
    if (size == 0) {
      Post([handler = std::move(handler)](boost::beast::error_code error,
                                          int /*result*/) mutable { handler(error, 0); },
           {}, 0);
      return;
    }
    std::size_t* bytes = reading ? &read_bytes_ : &written_bytes_;
    *bytes = 0;
    Step(
        [this, data, size, reading, bytes] {
          return reading ? SSL_read_ex(ssl_.get(), data, size, bytes)
                         : SSL_write_ex(ssl_.get(), data, size, bytes);
        },
        [handler = std::move(handler), bytes](boost::beast::error_code error,
                                              int /*result*/) mutable {
          handler(error, error ? 0 : *bytes);
        });
  }

  template <typename Done>
  void Post(Done done, boost::beast::error_code error, int result) {
    boost::asio::post(socket_.get_executor(),
                      boost::beast::bind_front_handler(std::move(done), error, result));
  }

  Socket& socket_;
  std::unique_ptr<SSL, FreeSsl> ssl_;
  std::string pending_write_;  // what SSL_write is given, kept until it has taken it
  std::size_t read_bytes_ = 0;
  std::size_t written_bytes_ = 0;
};

}  // namespace botsec::serve::internal

#endif  // BOTSEC_SERVE_SRC_TLS_SOCKET_H_
