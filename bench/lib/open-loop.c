// A fixed-rate open-loop HTTP/1.1 load generator (wrk2-style), the native twin of open-loop.mjs:
// request i is due at start + i / rate whether or not earlier answers came back, and its latency
// is measured from that scheduled time (no coordinated omission). One thread, one epoll set,
// CONNECTIONS keep-alive connections; a request due while every connection is busy waits in a
// queue, and that wait is part of its latency, as in undici's Pool. Nothing is allocated, no
// garbage collected and no code compiled while it measures, so what it reports of a local
// subject's tail is the subject's and the machine's, not the generator's.
//
//   open-loop HOST PORT RATE DURATION_S WARMUP_S CONNECTIONS TIMEOUT_MS < request
//
// stdin: the request, head and body, exactly as each connection sends it. stdout: one JSON line
// of counts, then one line per measured answer, "LATENCY_NS SERVICE_NS END_NS" (service: from
// the actual send; end: when the answer was whole, on CLOCK_MONOTONIC). Answers framed by
// Content-Length or chunked, or without a body (to a HEAD, 204, 304), with a head under 64 KiB;
// anything else is an error. After an answer with Connection: close a new connection takes the
// old one's place; a connection that cannot be made again is tried again every millisecond
// ("reconnectFailures" counts the tries that failed). Exits 2 on bad arguments, when the first
// connections cannot be made, or when epoll fails.
//
// Between sends it sleeps in epoll_pwait2 until OPEN_LOOP_SPIN_US (default 1000) before the next
// one, then polls: a virtual CPU woken from idle can be late by milliseconds, and the wake-up
// would be in every latency it reports.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNECTIONS 1024
#define BUFFER 65536
#define MAX_REQUEST 65536

enum { E_TIMEOUT, E_CLOSED, E_READ, E_WRITE, E_PROTOCOL, E_CONNECT, ERROR_KINDS };
static const char *ERROR_NAMES[ERROR_KINDS] = {"timeout", "closed", "read-error", "write-error", "protocol",
                                               "connect-error"};

/** Where a connection's answer stands. */
enum { S_HEAD, S_LENGTH, S_CHUNK_SIZE, S_CHUNK_DATA, S_CHUNK_CRLF, S_TRAILERS, S_DONE };

struct conn {
  int fd;  // -1: not connected
  int busy;
  int closing;  // the answer said Connection: close
  int state;
  int status;
  uint64_t due;        // the request's scheduled time
  uint64_t sent;       // when it was written
  uint64_t remaining;  // body bytes still due (S_LENGTH, S_CHUNK_DATA)
  size_t line_len;     // of `line`, a chunk-size, chunk-end or trailer line being read
  char line[256];
  size_t len;  // of the head read so far (S_HEAD)
  char buf[BUFFER];
};

static struct conn *conns;
static int nconns;
static int epfd;
static struct sockaddr_storage addr;
static socklen_t addr_len;
static char request[MAX_REQUEST];
static size_t request_len;

static int *idle;  // a stack of idle, connected connections
static int nidle;
static uint64_t *pending;  // a ring of due times waiting for a connection
static size_t pending_cap, pending_head, pending_len;

static uint64_t *latencies, *services, *ends;
static size_t recorded, record_cap;
static int recording;
static uint64_t completed, ok, errors, max_lag;
static uint64_t reconnect_failures;  // over the whole run, warm-up included
static int head_request;             // the request is a HEAD: its answers have no body
static uint64_t status_counts[600];
static uint64_t error_counts[ERROR_KINDS];

static uint64_t spin = 1000000;  // poll from this long before a send (ns)

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static void die(const char *what) {
  fprintf(stderr, "open-loop: %s\n", what);
  exit(2);
}

static int connect_one(struct conn *c) {
  int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (connect(fd, (struct sockaddr *)&addr, addr_len) < 0) {
    close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)(c - conns)};
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
    close(fd);
    return -1;
  }
  c->fd = fd;
  c->busy = 0;
  c->closing = 0;
  c->len = 0;
  c->state = S_HEAD;
  return 0;
}

static void release(struct conn *c, uint64_t now);

/**
 * A new connection in `c`'s place, free for the next request. One that cannot be made is tried
 * again every millisecond (`phase`); the others carry the load meanwhile.
 */
static void reconnect(struct conn *c, uint64_t now) {
  if (connect_one(c) < 0) reconnect_failures++;
  else release(c, now);
}

/** Closes `c`'s connection (its request, if any, already counted) and opens another. */
static void reopen(struct conn *c) {
  if (c->fd >= 0) close(c->fd);  // close takes it out of the epoll set
  c->fd = -1;
  c->busy = 0;
  // It is not on the idle stack when busy; when idle, take it off.
  for (int i = 0; i < nidle; i++) {
    if (&conns[idle[i]] == c) {
      idle[i] = idle[--nidle];
      break;
    }
  }
  reconnect(c, now_ns());
}

/** `c`'s request, if it has one, failed as `kind`; its connection is replaced. */
static void fail(struct conn *c, int kind) {
  if (c->busy) {
    completed++;
    errors++;
    error_counts[kind]++;
  }
  reopen(c);
}

static void send_on(struct conn *c, uint64_t due, uint64_t now) {
  c->busy = 1;
  c->due = due;
  c->sent = now;
  c->len = 0;
  c->line_len = 0;
  c->state = S_HEAD;
  ssize_t n = write(c->fd, request, request_len);
  if (n != (ssize_t)request_len) fail(c, E_WRITE);
}

/** Request `due` goes out on an idle connection, or waits for one. */
static void dispatch(uint64_t due, uint64_t now) {
  // As open-loop.mjs measures it: from the send time to the hand-over to the connections.
  if (now - due > max_lag) max_lag = now - due;
  if (nidle > 0) {
    send_on(&conns[idle[--nidle]], due, now);
    return;
  }
  if (pending_len == pending_cap) die("more requests waiting for a connection than were scheduled");
  pending[(pending_head + pending_len++) % pending_cap] = due;
}

/** A connection is free again: the longest-waiting request goes out on it, or it waits. */
static void release(struct conn *c, uint64_t now) {
  c->busy = 0;
  if (pending_len > 0) {
    uint64_t due = pending[pending_head];
    pending_head = (pending_head + 1) % pending_cap;
    pending_len--;
    send_on(c, due, now);
  } else {
    idle[nidle++] = (int)(c - conns);
  }
}

/** Where "\r\n\r\n" starts in `b`, or -1. */
static long head_end(const char *b, size_t len) {
  for (size_t i = 0; i + 3 < len; i++)
    if (b[i] == '\r' && b[i + 1] == '\n' && b[i + 2] == '\r' && b[i + 3] == '\n') return (long)i;
  return -1;
}

/** The value of header `name` (lower case, with its colon) in the head `b[0..end)`, or NULL. */
static const char *header(const char *b, size_t end, const char *name) {
  size_t n = strlen(name);
  for (const char *line = memchr(b, '\n', end); line != NULL && (size_t)(line - b) < end;) {
    line++;
    if ((size_t)(line - b) + n <= end && strncasecmp(line, name, n) == 0) {
      const char *v = line + n;
      while (*v == ' ' || *v == '\t') v++;
      return v;
    }
    line = memchr(line, '\n', end - (size_t)(line - b));
  }
  return NULL;
}

/** `text[0..len)` as a decimal number with nothing else but spaces after it; -1 if it is not one. */
static int64_t decimal(const char *text, size_t len) {
  size_t i = 0;
  int64_t n = 0;
  for (; i < len && text[i] >= '0' && text[i] <= '9'; i++) {
    if (n > (INT64_MAX - 9) / 10) return -1;
    n = n * 10 + (text[i] - '0');
  }
  if (i == 0) return -1;
  for (; i < len; i++)
    if (text[i] != ' ' && text[i] != '\t') return -1;
  return n;
}

/** The length of the header value at `v` (up to its CR). */
static size_t value_len(const char *v) {
  const char *cr = strchr(v, '\r');
  return cr == NULL ? strlen(v) : (size_t)(cr - v);
}

/**
 * Reads the status line and framing of the head in `c->buf[0..end)`: where the body's bytes go
 * next. -1: not an answer this reads (a status line that is not HTTP/1.x, a 1xx, a Content-Length
 * that is not a number, a body framed by neither).
 */
static int start_body(struct conn *c, size_t end) {
  const char *b = c->buf;
  if (end < 12 || strncmp(b, "HTTP/1.", 7) != 0 || b[8] != ' ') return -1;
  for (int i = 9; i < 12; i++)
    if (b[i] < '0' || b[i] > '9') return -1;
  c->status = (b[9] - '0') * 100 + (b[10] - '0') * 10 + (b[11] - '0');
  if (c->status < 200 || c->status > 599) return -1;
  const char *connection = header(b, end, "connection:");
  c->closing = connection != NULL && strncasecmp(connection, "close", 5) == 0;
  if (head_request || c->status == 204 || c->status == 304) {
    c->state = S_DONE;  // no body, whatever the head says (RFC 9112 section 6.3)
    return 0;
  }
  const char *te = header(b, end, "transfer-encoding:");
  if (te != NULL) {
    if (strncasecmp(te, "chunked", 7) != 0 || value_len(te) != 7) return -1;
    c->state = S_CHUNK_SIZE;
    return 0;
  }
  const char *length = header(b, end, "content-length:");
  if (length == NULL) return -1;
  int64_t n = decimal(length, value_len(length));
  if (n < 0) return -1;
  c->remaining = (uint64_t)n;
  c->state = n == 0 ? S_DONE : S_LENGTH;
  return 0;
}

static int hex(char ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

/** A whole line in `c->line` (its CRLF taken off, `len` long) for the chunked body's state. */
static int chunk_line(struct conn *c, size_t len) {
  if (c->state == S_CHUNK_CRLF) {
    if (len != 0) return -1;
    c->state = S_CHUNK_SIZE;
  } else if (c->state == S_CHUNK_SIZE) {
    uint64_t size = 0;
    size_t i = 0;
    for (; i < len && hex(c->line[i]) >= 0; i++) {
      if (size >> 59) return -1;
      size = size * 16 + (uint64_t)hex(c->line[i]);
    }
    if (i == 0 || (i < len && c->line[i] != ';')) return -1;
    c->remaining = size;
    c->state = size == 0 ? S_TRAILERS : S_CHUNK_DATA;
  } else if (len == 0) {
    c->state = S_DONE;  // the empty line after the trailers, if any
  }
  return 0;
}

/**
 * Reads `n` bytes of `c`'s answer body from `p`, keeping none of them. 1: the answer is whole
 * with the last of them; 0: more is due; -1: not a valid body, or bytes after the answer's end.
 */
static int body(struct conn *c, const char *p, size_t n) {
  size_t i = 0;
  while (i < n && c->state != S_DONE) {
    if (c->state == S_LENGTH || c->state == S_CHUNK_DATA) {
      size_t take = (uint64_t)(n - i) < c->remaining ? n - i : (size_t)c->remaining;
      i += take;
      c->remaining -= take;
      if (c->remaining == 0) c->state = c->state == S_LENGTH ? S_DONE : S_CHUNK_CRLF;
      continue;
    }
    char ch = p[i++];
    if (c->line_len == sizeof c->line) return -1;
    c->line[c->line_len++] = ch;
    if (ch != '\n') continue;
    if (c->line_len < 2 || c->line[c->line_len - 2] != '\r') return -1;
    size_t len = c->line_len - 2;
    c->line_len = 0;
    if (chunk_line(c, len) < 0) return -1;
  }
  if (c->state != S_DONE) return 0;
  return i == n ? 1 : -1;
}

/** Counts `c`'s whole answer. */
static void answered(struct conn *c, uint64_t now) {
  completed++;
  status_counts[c->status]++;
  if (c->status >= 200 && c->status < 400) ok++;
  else errors++;
  if (recording && recorded < record_cap) {
    latencies[recorded] = now - c->due;
    services[recorded] = now - c->sent;
    ends[recorded] = now;
    recorded++;
  }
}

static void readable(struct conn *c) {
  for (;;) {
    // The head is gathered in the buffer; body bytes are read into it and let go.
    char *into = c->state == S_HEAD ? c->buf + c->len : c->buf;
    size_t room = c->state == S_HEAD ? BUFFER - c->len : BUFFER;
    if (room == 0) {
      fail(c, E_PROTOCOL);  // a head of 64 KiB and more
      return;
    }
    ssize_t n = read(c->fd, into, room);
    if (n == 0) {
      fail(c, E_CLOSED);
      return;
    }
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if (errno == EINTR) continue;
      fail(c, E_READ);
      return;
    }
    if (!c->busy) {
      fail(c, E_PROTOCOL);  // bytes nobody asked for
      return;
    }
    int done;
    if (c->state == S_HEAD) {
      size_t from = c->len > 3 ? c->len - 3 : 0;
      c->len += (size_t)n;
      long end = head_end(c->buf + from, c->len - from);
      if (end < 0) continue;
      size_t head = from + (size_t)end;
      if (start_body(c, head) < 0) {
        fail(c, E_PROTOCOL);
        return;
      }
      done = body(c, c->buf + head + 4, c->len - head - 4);
    } else {
      done = body(c, c->buf, (size_t)n);
    }
    if (done < 0) {
      fail(c, E_PROTOCOL);
      return;
    }
    if (done) {
      uint64_t now = now_ns();
      answered(c, now);
      // After Connection: close, a new connection in its place, as a client does.
      if (c->closing) reopen(c);
      else release(c, now);
      return;
    }
  }
}

static void expire(uint64_t now, uint64_t timeout) {
  for (int i = 0; i < nconns; i++) {
    struct conn *c = &conns[i];
    if (c->fd >= 0 && c->busy && now - c->sent > timeout) fail(c, E_TIMEOUT);
  }
}

/** One phase at `rate`: `total` requests, the first due now; returns when every one has ended. */
static void phase(double rate, uint64_t total, uint64_t timeout) {
  double interval = 1e9 / rate;
  uint64_t start = now_ns();
  uint64_t sent = 0;
  uint64_t target = completed + total;
  uint64_t last_expiry = start;
  struct epoll_event events[64];
  while (completed < target) {
    uint64_t now = now_ns();
    while (sent < total && start + (uint64_t)(sent * interval) <= now) {
      dispatch(start + (uint64_t)(sent * interval), now);
      sent++;
    }
    if (now - last_expiry > 1000000) {
      expire(now, timeout);
      last_expiry = now;
      for (int i = 0; i < nconns; i++)
        if (conns[i].fd < 0) reconnect(&conns[i], now);
      // Requests waiting while no connection is left at all: nothing will carry them.
      if (nidle == 0 && pending_len > 0) {
        int any = 0;
        for (int i = 0; i < nconns; i++) any |= conns[i].fd >= 0;
        if (!any) {
          completed += pending_len;
          errors += pending_len;
          error_counts[E_CONNECT] += pending_len;
          pending_len = 0;
        }
      }
    }
    // Sleep until `spin` before the next send, poll from there.
    struct timespec sleep = {.tv_sec = 0, .tv_nsec = 10000000};
    if (sent < total) {
      double wait = (double)start + sent * interval - (double)now_ns() - (double)spin;
      sleep.tv_nsec = wait > 0 ? (long)wait : 0;
      if (sleep.tv_nsec >= 1000000000) sleep.tv_nsec = 999999999;
    }
    int n = epoll_pwait2(epfd, events, 64, &sleep, NULL);
    if (n < 0) {
      if (errno == EINTR) continue;
      fprintf(stderr, "open-loop: epoll_pwait2 failed: %s\n", strerror(errno));
      exit(2);
    }
    for (int i = 0; i < n; i++) {
      struct conn *c = &conns[events[i].data.u32];
      if (c->fd < 0) continue;
      if (events[i].events & (EPOLLERR | EPOLLHUP) && !(events[i].events & EPOLLIN)) fail(c, E_CLOSED);
      else readable(c);
    }
  }
}

static double number(const char *text, const char *what) {
  char *end;
  double v = strtod(text, &end);
  if (*text == '\0' || *end != '\0' || !(v >= 0)) {
    fprintf(stderr, "open-loop: %s must be a number >= 0, got \"%s\"\n", what, text);
    exit(2);
  }
  return v;
}

int main(int argc, char **argv) {
  if (argc != 8) die("usage: open-loop HOST PORT RATE DURATION_S WARMUP_S CONNECTIONS TIMEOUT_MS < request");
  const char *host = argv[1];
  int port = (int)number(argv[2], "PORT");
  double rate = number(argv[3], "RATE");
  double duration = number(argv[4], "DURATION_S");
  double warmup = number(argv[5], "WARMUP_S");
  nconns = (int)number(argv[6], "CONNECTIONS");
  uint64_t timeout = (uint64_t)(number(argv[7], "TIMEOUT_MS") * 1e6);
  if (rate <= 0 || duration <= 0) die("RATE and DURATION_S must be > 0");
  if (nconns < 1 || nconns > MAX_CONNECTIONS) die("CONNECTIONS must be 1..1024");
  if (getenv("OPEN_LOOP_SPIN_US") != NULL) spin = (uint64_t)(number(getenv("OPEN_LOOP_SPIN_US"), "OPEN_LOOP_SPIN_US") * 1000);

  memset(&addr, 0, sizeof addr);
  struct sockaddr_in *a4 = (struct sockaddr_in *)&addr;
  struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&addr;
  if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    addr_len = sizeof *a4;
  } else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons((uint16_t)port);
    addr_len = sizeof *a6;
  } else {
    die("HOST must be an IPv4 or IPv6 address");
  }

  size_t n;
  while ((n = fread(request + request_len, 1, MAX_REQUEST - request_len, stdin)) > 0) request_len += n;
  if (request_len == 0 || request_len == MAX_REQUEST) die("stdin must hold the request, under 64 KiB");
  head_request = strncmp(request, "HEAD ", 5) == 0;

  uint64_t measured = (uint64_t)(rate * duration + 0.5);
  uint64_t warm = (uint64_t)(rate * warmup + 0.5);
  if (measured < 1) measured = 1;
  conns = calloc((size_t)nconns, sizeof *conns);
  idle = calloc((size_t)nconns, sizeof *idle);
  pending_cap = (size_t)(measured > warm ? measured : warm) + 1;
  pending = calloc(pending_cap, sizeof *pending);
  record_cap = (size_t)measured;
  latencies = calloc(record_cap, sizeof *latencies);
  services = calloc(record_cap, sizeof *services);
  ends = calloc(record_cap, sizeof *ends);
  if (!conns || !idle || !pending || !latencies || !services || !ends) die("out of memory");
  epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) die("epoll_create1 failed");
  for (int i = 0; i < nconns; i++) {
    conns[i].fd = -1;
    if (connect_one(&conns[i]) < 0) {
      fprintf(stderr, "open-loop: cannot connect to %s port %d: %s\n", host, port, strerror(errno));
      return 2;
    }
    idle[nidle++] = i;
  }

  uint64_t warm_completed = 0;
  if (warm > 0) {
    phase(rate, warm, timeout);
    warm_completed = completed;
  }
  completed = ok = errors = max_lag = 0;
  memset(status_counts, 0, sizeof status_counts);
  memset(error_counts, 0, sizeof error_counts);
  recording = 1;  // reconnect_failures goes on counting: a connection lost in the warm-up is still lost
  uint64_t start = now_ns();
  phase(rate, measured, timeout);
  double elapsed = (double)(now_ns() - start) / 1e9;

  printf("{\"sent\":%llu,\"completed\":%llu,\"ok\":%llu,\"errors\":%llu,\"warmupSent\":%llu,\"elapsedS\":%.6f,"
         "\"maxSendLagMs\":%.3f,\"reconnectFailures\":%llu,\"statusCodes\":{",
         (unsigned long long)measured, (unsigned long long)completed, (unsigned long long)ok,
         (unsigned long long)errors, (unsigned long long)warm_completed, elapsed, (double)max_lag / 1e6,
         (unsigned long long)reconnect_failures);
  const char *sep = "";
  for (int s = 0; s < 600; s++) {
    if (status_counts[s] == 0) continue;
    printf("%s\"%d\":%llu", sep, s, (unsigned long long)status_counts[s]);
    sep = ",";
  }
  printf("},\"errorCodes\":{");
  sep = "";
  for (int e = 0; e < ERROR_KINDS; e++) {
    if (error_counts[e] == 0) continue;
    printf("%s\"%s\":%llu", sep, ERROR_NAMES[e], (unsigned long long)error_counts[e]);
    sep = ",";
  }
  printf("}}\n");
  for (size_t i = 0; i < recorded; i++)
    printf("%llu %llu %llu\n", (unsigned long long)latencies[i], (unsigned long long)services[i],
           (unsigned long long)ends[i]);
  return 0;
}
