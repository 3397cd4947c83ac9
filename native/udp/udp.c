/*
 * Verdict's batched UDP I/O (issue 19): one listening socket per object, read
 * with recvmmsg and answered with sendmmsg, so that the system calls and the
 * crossings into JavaScript are paid once per batch rather than once per
 * datagram as node:dgram does.
 *
 * The socket is watched by libuv on the loop of the N-API environment
 * (uv_poll_t on the fd): no thread of our own. When it is readable we take up
 * to BATCH datagrams with one recvmmsg (MSG_DONTWAIT, so a lone query is
 * handed over at once, never held back for company), describe them in `meta`
 * (length, family, port, address as integers) and call JavaScript once with
 * the count. JavaScript writes the replies it can give at once into `out` and
 * returns how many it described in `ometa` (slot, offset, length); they leave
 * with one sendmmsg to the addresses of their slots. Replies given later (the
 * pipeline's promises) go out one at a time through sendOne on the same fd.
 * Up to MAX_ROUNDS batches are taken per wake-up, then the loop turns (timers,
 * TCP) and the poll fires again if more is queued.
 *
 * Memory: every buffer is allocated once, when the socket opens, and its size
 * is fixed: the input slots hold the largest UDP payload (65,535 bytes), so no
 * datagram is ever truncated (pages of a slot are only made resident by the
 * bytes the kernel writes into them). Every index JavaScript hands back is
 * checked against those sizes before use. Nothing is allocated per packet,
 * except a JS number for the count of a batch.
 *
 * Linux only (recvmmsg, sendmmsg, SO_REUSEPORT); Verdict uses node:dgram elsewhere.
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8 /* napi_add_async_cleanup_hook */
#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <fcntl.h>
#include <node_api.h>
#include <uv.h>

#define BATCH 64
#define SLOT 65536
#define OUT_SIZE (BATCH * 4096)
#define META 8      /* ints per input slot: len, family, port, a0..a3, namelen */
#define OMETA 3     /* ints per reply: slot, offset, length */
#define MAX_ROUNDS 8

typedef struct {
  napi_env env;
  int fd;
  int polling;
  int closed;
  int handle_open; /* uv_poll_init done and uv_close not yet called back */
  int wrapper_alive;
  /* Environment teardown (process exit, a worker thread's end) waits on it until the uv handle is closed. */
  napi_async_cleanup_hook_handle hook;
  uv_poll_t poll;
  napi_ref self;
  napi_ref cb;
  napi_async_context actx;
  uint8_t *in;
  int32_t *meta;
  struct sockaddr_in6 *addrs; /* big enough for either family */
  uint8_t *out;
  int32_t *ometa;
  struct mmsghdr rmsg[BATCH];
  struct iovec riov[BATCH];
  struct mmsghdr smsg[BATCH];
  struct iovec siov[BATCH];
  double stats[5]; /* wakeups, batches, datagrams, replies sent, replies not sent */
} udp_t;

#define CHECK(call)                                                        \
  do {                                                                     \
    if ((call) != napi_ok) {                                               \
      napi_throw_error(env, "EUDPNATIVE", "verdict-udp: " #call " failed"); \
      return NULL;                                                         \
    }                                                                      \
  } while (0)

static napi_value throw_errno(napi_env env, int err, const char *what) {
  char msg[160];
  const char *name = strerrorname_np(err);
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_throw_error(env, name ? name : "EUDPNATIVE", msg);
  return NULL;
}

static void free_state_if_unused(udp_t *u) {
  if (!u->wrapper_alive && !u->handle_open) free(u);
}

static void release_hook(udp_t *u) {
  if (u->hook) {
    napi_remove_async_cleanup_hook(u->hook);
    u->hook = NULL;
  }
}

static void on_handle_closed(uv_handle_t *h) {
  udp_t *u = (udp_t *)h->data;
  u->handle_open = 0;
  release_hook(u);
  free_state_if_unused(u);
}

/* Stop watching and close the fd; safe to call twice. Does not touch JS. */
static void shut(udp_t *u) {
  if (u->closed) return;
  u->closed = 1;
  if (u->polling) {
    uv_poll_stop(&u->poll);
    u->polling = 0;
  }
  close(u->fd);
  u->fd = -1;
  if (u->handle_open) uv_close((uv_handle_t *)&u->poll, on_handle_closed); /* releases the hook when done */
  else release_hook(u);
}

static void free_bytes(napi_env env, void *data, void *hint) { free(data); }

static void finalize(napi_env env, void *data, void *hint) {
  udp_t *u = (udp_t *)data;
  shut(u);
  u->wrapper_alive = 0;
  free_state_if_unused(u);
}

/* Environment teardown with the socket still open: close it, and the uv handle before the loop ends. */
static void async_cleanup(napi_async_cleanup_hook_handle handle, void *arg) {
  udp_t *u = (udp_t *)arg;
  u->hook = handle;
  if (!u->closed) shut(u);           /* releases the hook at once, or when the uv handle is closed */
  else if (!u->handle_open) release_hook(u);
  /* else: closed, uv_close under way: on_handle_closed releases it */
}

/* One sendmmsg of the `count` replies described in ometa (each checked against the buffers' bounds). */
static void send_batch(udp_t *u, int32_t count) {
  int k = 0;
  for (int32_t j = 0; j < count; j++) {
    int32_t slot = u->ometa[j * OMETA], off = u->ometa[j * OMETA + 1], len = u->ometa[j * OMETA + 2];
    if (slot < 0 || slot >= BATCH || off < 0 || len <= 0 || (int64_t)off + len > OUT_SIZE || u->meta[slot * META + 7] <= 0) {
      u->stats[4]++;
      continue;
    }
    struct mmsghdr *m = &u->smsg[k];
    u->siov[k].iov_base = u->out + off;
    u->siov[k].iov_len = (size_t)len;
    memset(&m->msg_hdr, 0, sizeof m->msg_hdr);
    m->msg_hdr.msg_name = &u->addrs[slot];
    m->msg_hdr.msg_namelen = (socklen_t)u->meta[slot * META + 7];
    m->msg_hdr.msg_iov = &u->siov[k];
    m->msg_hdr.msg_iovlen = 1;
    k++;
  }
  int i = 0;
  while (i < k) {
    int r = sendmmsg(u->fd, u->smsg + i, (unsigned)(k - i), 0);
    if (r > 0) {
      i += r;
      u->stats[3] += r;
    } else if (r < 0 && errno == EINTR) {
      continue;
    } else if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) {
      u->stats[4] += k - i; /* send buffer full: UDP may drop, the client retries */
      break;
    } else {
      u->stats[4]++; /* this destination refused (EPERM by a firewall, EINVAL...): skip it */
      i++;
    }
  }
}

static void on_readable(uv_poll_t *h, int status, int events) {
  udp_t *u = (udp_t *)h->data;
  if (status < 0 || u->closed) return;
  napi_env env = u->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value self, cb;
  if (napi_get_reference_value(env, u->self, &self) != napi_ok || napi_get_reference_value(env, u->cb, &cb) != napi_ok || !self || !cb) {
    napi_close_handle_scope(env, scope);
    return;
  }
  u->stats[0]++;
  for (int round = 0; round < MAX_ROUNDS && !u->closed; round++) {
    for (int i = 0; i < BATCH; i++) {
      u->rmsg[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_in6);
      u->rmsg[i].msg_hdr.msg_flags = 0;
      u->rmsg[i].msg_len = 0;
    }
    int n = recvmmsg(u->fd, u->rmsg, BATCH, MSG_DONTWAIT, NULL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break; /* EAGAIN: drained; any other error is the datagram's (ICMP), not ours */
    for (int i = 0; i < n; i++) {
      int32_t *m = u->meta + i * META;
      const struct sockaddr_in6 *sa6 = &u->addrs[i];
      m[0] = (int32_t)u->rmsg[i].msg_len;
      if (sa6->sin6_family == AF_INET6 && u->rmsg[i].msg_hdr.msg_namelen >= sizeof(struct sockaddr_in6)) {
        const uint8_t *a = sa6->sin6_addr.s6_addr;
        m[1] = 6;
        m[2] = ntohs(sa6->sin6_port);
        for (int w = 0; w < 4; w++) m[3 + w] = (int32_t)(((uint32_t)a[4 * w] << 24) | ((uint32_t)a[4 * w + 1] << 16) | ((uint32_t)a[4 * w + 2] << 8) | a[4 * w + 3]);
        m[7] = sizeof(struct sockaddr_in6);
      } else if (sa6->sin6_family == AF_INET && u->rmsg[i].msg_hdr.msg_namelen >= sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *sa4 = (const struct sockaddr_in *)sa6;
        m[1] = 4;
        m[2] = ntohs(sa4->sin_port);
        m[3] = (int32_t)ntohl(sa4->sin_addr.s_addr);
        m[4] = m[5] = m[6] = 0;
        m[7] = sizeof(struct sockaddr_in);
      } else {
        m[0] = -1; /* no usable source address: JavaScript skips it */
        m[7] = 0;
      }
    }
    u->stats[1]++;
    u->stats[2] += n;
    napi_value argv[1], result;
    napi_create_int32(env, n, &argv[0]);
    napi_status st = napi_make_callback(env, u->actx, self, cb, 1, argv, &result);
    if (st != napi_ok) {
      napi_value err;
      if (napi_get_and_clear_last_exception(env, &err) == napi_ok && err) napi_fatal_exception(env, err);
      break;
    }
    int32_t replies = 0;
    if (!u->closed && napi_get_value_int32(env, result, &replies) == napi_ok && replies > 0) send_batch(u, replies > BATCH ? BATCH : replies);
    if (n < BATCH) break;
  }
  napi_close_handle_scope(env, scope);
}

static udp_t *unwrap(napi_env env, napi_value obj) {
  void *p = NULL;
  if (napi_unwrap(env, obj, &p) != napi_ok || !p) {
    napi_throw_type_error(env, "EUDPNATIVE", "verdict-udp: not a socket");
    return NULL;
  }
  return (udp_t *)p;
}

static int set_buffer(napi_env env, napi_value obj, const char *name, void *data, size_t len) {
  napi_value b;
  if (napi_create_external_buffer(env, len, data, free_bytes, NULL, &b) != napi_ok) return -1;
  return napi_set_named_property(env, obj, name, b) == napi_ok ? 0 : -1;
}

/* open(family 4|6, address, port, rcvbuf, reusePort) -> { port, input, meta, addrs, out, ometa } */
static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t family = 0, port = 0, rcvbuf = 0;
  bool reuse = false;
  char addr[64];
  size_t alen = 0;
  if (argc < 5 || napi_get_value_int32(env, argv[0], &family) != napi_ok || napi_get_value_string_utf8(env, argv[1], addr, sizeof addr, &alen) != napi_ok ||
      napi_get_value_int32(env, argv[2], &port) != napi_ok || napi_get_value_int32(env, argv[3], &rcvbuf) != napi_ok || napi_get_value_bool(env, argv[4], &reuse) != napi_ok ||
      (family != 4 && family != 6) || port < 0 || port > 65535 || rcvbuf < 0) {
    napi_throw_type_error(env, "EINVAL", "verdict-udp: open(family 4|6, address, port, rcvbuf, reusePort)");
    return NULL;
  }
  struct sockaddr_in6 sa;
  socklen_t salen;
  memset(&sa, 0, sizeof sa);
  if (family == 4) {
    struct sockaddr_in *s4 = (struct sockaddr_in *)&sa;
    s4->sin_family = AF_INET;
    s4->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, addr, &s4->sin_addr) != 1) return throw_errno(env, EINVAL, "verdict-udp: not an IPv4 address");
    salen = sizeof(struct sockaddr_in);
  } else {
    sa.sin6_family = AF_INET6;
    sa.sin6_port = htons((uint16_t)port);
    if (inet_pton(AF_INET6, addr, &sa.sin6_addr) != 1) return throw_errno(env, EINVAL, "verdict-udp: not an IPv6 address");
    salen = sizeof(struct sockaddr_in6);
  }
  int fd = socket(family == 4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, errno, "socket");
  int one = 1;
  if (family == 6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0) goto fail;
  if (reuse && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) goto fail;
  if (rcvbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf) != 0) goto fail;
  if (bind(fd, (struct sockaddr *)&sa, salen) != 0) goto fail;
  struct sockaddr_in6 bound;
  socklen_t blen = sizeof bound;
  if (getsockname(fd, (struct sockaddr *)&bound, &blen) != 0) goto fail;
  int bound_port = ntohs(family == 4 ? ((struct sockaddr_in *)&bound)->sin_port : bound.sin6_port);

  udp_t *u = calloc(1, sizeof *u);
  uint8_t *in = malloc((size_t)BATCH * SLOT);
  int32_t *meta = calloc(BATCH * META, sizeof(int32_t));
  struct sockaddr_in6 *addrs = calloc(BATCH, sizeof(struct sockaddr_in6));
  uint8_t *out = malloc(OUT_SIZE);
  int32_t *ometa = calloc(BATCH * OMETA, sizeof(int32_t));
  if (!u || !in || !meta || !addrs || !out || !ometa) {
    free(u); free(in); free(meta); free(addrs); free(out); free(ometa);
    close(fd);
    return throw_errno(env, ENOMEM, "verdict-udp");
  }
  u->env = env;
  u->fd = fd;
  u->in = in;
  u->meta = meta;
  u->addrs = addrs;
  u->out = out;
  u->ometa = ometa;
  for (int i = 0; i < BATCH; i++) {
    u->riov[i].iov_base = in + (size_t)i * SLOT;
    u->riov[i].iov_len = SLOT;
    u->rmsg[i].msg_hdr.msg_name = &addrs[i];
    u->rmsg[i].msg_hdr.msg_iov = &u->riov[i];
    u->rmsg[i].msg_hdr.msg_iovlen = 1;
  }
  napi_value obj, v;
  int ok = napi_create_object(env, &obj) == napi_ok;
  /* From here each buffer belongs to its JS Buffer (freed by its finalizer). */
  ok = ok && set_buffer(env, obj, "input", in, (size_t)BATCH * SLOT) == 0;
  ok = ok && set_buffer(env, obj, "meta", meta, BATCH * META * sizeof(int32_t)) == 0;
  ok = ok && set_buffer(env, obj, "addrs", addrs, BATCH * sizeof(struct sockaddr_in6)) == 0;
  ok = ok && set_buffer(env, obj, "out", out, OUT_SIZE) == 0;
  ok = ok && set_buffer(env, obj, "ometa", ometa, BATCH * OMETA * sizeof(int32_t)) == 0;
  ok = ok && napi_create_int32(env, bound_port, &v) == napi_ok && napi_set_named_property(env, obj, "port", v) == napi_ok;
  ok = ok && napi_create_int32(env, BATCH, &v) == napi_ok && napi_set_named_property(env, obj, "batch", v) == napi_ok;
  ok = ok && napi_create_int32(env, SLOT, &v) == napi_ok && napi_set_named_property(env, obj, "slot", v) == napi_ok;
  ok = ok && napi_create_int32(env, (int32_t)sizeof(struct sockaddr_in6), &v) == napi_ok && napi_set_named_property(env, obj, "addrSize", v) == napi_ok;
  ok = ok && napi_wrap(env, obj, u, finalize, NULL, NULL) == napi_ok;
  if (!ok) {
    /* Buffers already handed to JS are freed by their finalizers; the rest here. */
    close(fd);
    free(u);
    napi_throw_error(env, "EUDPNATIVE", "verdict-udp: could not create the socket's buffers");
    return NULL;
  }
  u->wrapper_alive = 1;
  if (napi_add_async_cleanup_hook(env, async_cleanup, u, &u->hook) != napi_ok) u->hook = NULL;
  return obj;
fail:;
  int e = errno;
  close(fd);
  return throw_errno(env, e, family == 4 ? "bind udp4" : "bind udp6");
}

/* start(sock, onBatch(count) -> replies) */
static napi_value js_start(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], name;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  udp_t *u = unwrap(env, argv[0]);
  if (!u) return NULL;
  napi_valuetype t;
  if (argc < 2 || napi_typeof(env, argv[1], &t) != napi_ok || t != napi_function) {
    napi_throw_type_error(env, "EINVAL", "verdict-udp: start(sock, callback)");
    return NULL;
  }
  if (u->closed || u->polling) {
    napi_throw_error(env, "EINVAL", "verdict-udp: socket closed or already started");
    return NULL;
  }
  uv_loop_t *loop;
  CHECK(napi_get_uv_event_loop(env, &loop));
  CHECK(napi_create_string_utf8(env, "verdict-udp", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_async_init(env, argv[0], name, &u->actx));
  CHECK(napi_create_reference(env, argv[1], 1, &u->cb));
  CHECK(napi_create_reference(env, argv[0], 1, &u->self)); /* alive while it listens */
  int r = uv_poll_init(loop, &u->poll, u->fd);
  if (r != 0) return throw_errno(env, -r, "uv_poll_init");
  u->poll.data = u;
  u->handle_open = 1;
  r = uv_poll_start(&u->poll, UV_READABLE, on_readable);
  if (r != 0) return throw_errno(env, -r, "uv_poll_start");
  u->polling = 1;
  return NULL;
}

/* close(sock): stop reading, close the fd, let the object be collected. */
static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  udp_t *u = unwrap(env, argv[0]);
  if (!u) return NULL;
  if (u->closed) return NULL;
  shut(u);
  if (u->cb) { napi_delete_reference(env, u->cb); u->cb = NULL; }
  if (u->self) { napi_delete_reference(env, u->self); u->self = NULL; }
  if (u->actx) { napi_async_destroy(env, u->actx); u->actx = NULL; }
  return NULL;
}

/* sendOne(sock, buffer, sockaddr) -> 0 or an errno: one reply given later by the pipeline. */
static napi_value js_send_one(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], res;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  udp_t *u = unwrap(env, argv[0]);
  if (!u) return NULL;
  void *data = NULL, *addr = NULL;
  size_t len = 0, alen = 0;
  if (argc < 3 || napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok || napi_get_buffer_info(env, argv[2], &addr, &alen) != napi_ok) {
    napi_throw_type_error(env, "EINVAL", "verdict-udp: sendOne(sock, buffer, sockaddr)");
    return NULL;
  }
  int err = 0;
  sa_family_t fam = 0;
  if (alen >= sizeof(sa_family_t)) memcpy(&fam, addr, sizeof fam);
  socklen_t salen = fam == AF_INET ? sizeof(struct sockaddr_in) : fam == AF_INET6 ? sizeof(struct sockaddr_in6) : 0;
  if (u->closed) err = EBADF;
  else if (salen == 0 || alen < salen || len == 0 || len > 65535) err = EINVAL;
  else {
    ssize_t r;
    do r = sendto(u->fd, data, len, 0, (const struct sockaddr *)addr, salen);
    while (r < 0 && errno == EINTR);
    if (r < 0) err = errno;
  }
  if (err) u->stats[4]++;
  else u->stats[3]++;
  CHECK(napi_create_int32(env, err, &res));
  return res;
}

/* recvBufferSize(sock): SO_RCVBUF as the kernel reports it. */
static napi_value js_rcvbuf(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], res;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  udp_t *u = unwrap(env, argv[0]);
  if (!u) return NULL;
  int v = 0;
  socklen_t l = sizeof v;
  if (u->closed || getsockopt(u->fd, SOL_SOCKET, SO_RCVBUF, &v, &l) != 0) return throw_errno(env, u->closed ? EBADF : errno, "getsockopt");
  CHECK(napi_create_int32(env, v, &res));
  return res;
}

/* ntop(sock, slot): the source address of a slot of the current batch, as inet_ntop writes it. */
static napi_value js_ntop(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], res;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  udp_t *u = unwrap(env, argv[0]);
  if (!u) return NULL;
  int32_t slot = -1;
  if (argc < 2 || napi_get_value_int32(env, argv[1], &slot) != napi_ok || slot < 0 || slot >= BATCH) {
    napi_throw_range_error(env, "EINVAL", "verdict-udp: ntop(sock, slot)");
    return NULL;
  }
  char text[INET6_ADDRSTRLEN] = "";
  const struct sockaddr_in6 *sa = &u->addrs[slot];
  if (sa->sin6_family == AF_INET6) inet_ntop(AF_INET6, &sa->sin6_addr, text, sizeof text);
  else if (sa->sin6_family == AF_INET) inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, text, sizeof text);
  CHECK(napi_create_string_latin1(env, text, NAPI_AUTO_LENGTH, &res));
  return res;
}

/* stats(sock) -> [wake-ups, batches, datagrams, replies sent, replies not sent] */
static napi_value js_stats(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], arr, v;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  udp_t *u = unwrap(env, argv[0]);
  if (!u) return NULL;
  CHECK(napi_create_array_with_length(env, 5, &arr));
  for (uint32_t i = 0; i < 5; i++) {
    CHECK(napi_create_double(env, u->stats[i], &v));
    CHECK(napi_set_element(env, arr, i, v));
  }
  return arr;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "open", NULL, js_open, NULL, NULL, NULL, napi_default, NULL },
    { "start", NULL, js_start, NULL, NULL, NULL, napi_default, NULL },
    { "close", NULL, js_close, NULL, NULL, NULL, napi_default, NULL },
    { "sendOne", NULL, js_send_one, NULL, NULL, NULL, napi_default, NULL },
    { "recvBufferSize", NULL, js_rcvbuf, NULL, NULL, NULL, napi_default, NULL },
    { "ntop", NULL, js_ntop, NULL, NULL, NULL, napi_default, NULL },
    { "stats", NULL, js_stats, NULL, NULL, NULL, napi_default, NULL },
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
