// grove/net/net.hpp: everything in grove's net module, in one include.
//
//   Address          address.hpp          IPv4 / IPv6 / Unix addresses, parse and print
//   Socket           socket.hpp           cooperative sockets; wait_readable/writable
//   resolve          resolve.hpp          getaddrinfo off the hub; create_connection
//   BufferedStream   buffered_stream.hpp  read_line / read_until / buffered writes
//   StreamServer     stream_server.hpp    one green thread per TCP connection
//   DatagramServer   datagram_server.hpp  UDP server
//   TlsContext       tls_context.hpp      TLS settings (OpenSSL SSL_CTX), client and server
//   TlsStream        tls_stream.hpp       a TLS connection over a Socket; connect_tls
//   tls_handler      tls_server.hpp       StreamServer serving TLS
//   TlsErrc          tls_error.hpp        TLS error categories
//   prefork          prefork.hpp          N worker processes on one listener, supervised
//   PipeStream       pipe_stream.hpp      a pipe end as a cooperative stream
//   Process          process.hpp          child processes: pipes, wait, communicate
//   ProcessError     process_error.hpp    SpawnError, ProcessError, ProcessTimeout
//   run              process_run.hpp      run / check_output
#pragma once

#include <grove/net/address.hpp>
#include <grove/net/buffered_stream.hpp>
#include <grove/net/datagram_server.hpp>
#include <grove/net/pipe_stream.hpp>
#include <grove/net/prefork.hpp>
#include <grove/net/process.hpp>
#include <grove/net/process_error.hpp>
#include <grove/net/process_run.hpp>
#include <grove/net/resolve.hpp>
#include <grove/net/socket.hpp>
#include <grove/net/stream_server.hpp>
#include <grove/net/tls_context.hpp>
#include <grove/net/tls_error.hpp>
#include <grove/net/tls_server.hpp>
#include <grove/net/tls_stream.hpp>
