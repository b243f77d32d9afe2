// glibc's headers come first: libevent's headers pull in <sys/select.h> pieces, and a Clang module
// that sees fd_set first through libevent fails a clean debug build ("fd_set" redefinition).
#ifndef CLIBEVENT_SHIM_H
#define CLIBEVENT_SHIM_H
#include <sys/types.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/time.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <unistd.h>
#include <fcntl.h>
#include <errno.h>

#include <event2/event.h>
#include <event2/util.h>
#endif
