// Reading one HTTP/1.1 message into a Beast parser, for the HTTP server and client only (it pulls
// in Beast; nothing outside integrations/net/ includes it).
//
// Contract
// - read_message() first hands the parser what `buffer` already holds and reads from `stream`
//   only when the parser needs more, so a request that arrived whole (the usual case: one read
//   brings a small POST) is parsed without an extra turn of the event loop. Beast's
//   async_read / async_read_header post their completion even when they did no I/O, and walk
//   several layers of composed operations per read.
// - `header_only`: stop once the header is parsed (the body, or part of it, stays in `buffer`),
//   as async_read_header; otherwise read until the message is complete, as async_read.
// - Errors as Beast's: http::error::end_of_stream when the peer closed before a byte of the
//   message, http::error::partial_message (from put_eof) when it closed in the middle, the
//   parser's own (header_limit, body_limit, bad_*), and the stream's (beast::error::timeout from
//   a tcp_stream's expiry, connection_reset, ...). A success is an empty error_code.
// - Threading: one call at a time per stream, on the stream's executor.
#pragma once

#include <algorithm>
#include <cstddef>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>

namespace shipmate::integrations::net::detail {

template <class Stream, bool isRequest>
boost::asio::awaitable<boost::system::error_code> read_message(
    Stream& stream, boost::beast::flat_buffer& buffer,
    boost::beast::http::basic_parser<isRequest>& parser, bool header_only) {
  namespace http = boost::beast::http;
  constexpr auto kTuple = boost::asio::as_tuple(boost::asio::use_awaitable);
  // As Beast: a header is parsed on its own, a body as far as the buffer goes.
  parser.eager(!header_only);
  for (;;) {
    if (header_only ? parser.is_header_done() : parser.is_done())
      co_return boost::system::error_code{};
    if (buffer.size() > 0) {
      boost::system::error_code ec;
      const std::size_t used = parser.put(buffer.data(), ec);
      buffer.consume(used);
      if (ec && ec != http::error::need_more)
        co_return ec;
      if (!ec && used > 0)
        continue;
    }
    // More is needed: read what the socket has (at least 4 KiB of room, at most 64 KiB).
    const std::size_t room =
        std::clamp<std::size_t>(buffer.capacity() - buffer.size(), 4096, 65536);
    const auto space = buffer.prepare(room);
    auto [ec, n] = co_await stream.async_read_some(space, kTuple);
    if (ec == boost::asio::error::eof) {
      if (!parser.got_some())
        co_return http::error::end_of_stream;
      boost::system::error_code eof_ec;
      parser.put_eof(eof_ec);
      // Without an error the close ended a body that had no length: the message is complete.
      co_return eof_ec;
    }
    if (ec)
      co_return ec;
    buffer.commit(n);
  }
}

}  // namespace shipmate::integrations::net::detail
