// C headers the load-test harness needs that Swift's Glibc module does not export.
#ifndef CLOADTESTSHIMS_H
#define CLOADTESTSHIMS_H
#include <sys/epoll.h>
#endif
