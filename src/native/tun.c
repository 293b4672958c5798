// lvsadm_native: TUN packet I/O for the userspace dataplane, as a plain C Node-API addon.
//
//   open(name, multiQueue, vnetHdr?)             -> fd        (TUNSETIFF, IFF_TUN | IFF_NO_PI)
//   readBatch(fd, buf, offs, lens, slotSize, headroom, max, start?, stats?, vnet?, csum?, gso?)
//                                                -> packets read
//   writeBatch(fd, buf, offs, lens, verdicts, count, stats?, vnet?, csum?) -> packets written
//   poll(fd, callback)                           -> { stop() } (uv_poll_t, UV_READABLE)
//   close(fd), setNonBlocking(fd, on), getPeerCred(fd) -> { pid, uid, gid }
//   tryLock(fd)                                  -> true, or false if another process holds it
//
// The packet calls work on the memory of the caller's typed arrays (no copies, no allocation
// per packet) and never throw for a packet: failures are added to the optional `stats`
// Float64Array (slots STAT_* below, mirrored in index.ts). They throw only for bad arguments.
// Everything runs on the JS thread; the one static scratch byte below relies on that.
//
// Offload mode (open with vnetHdr): every packet on the fd is preceded by a struct
// virtio_net_hdr (10 bytes). readBatch/writeBatch then take `vnet`, one such header per slot
// (slot i at vnet + 10*i), read and written with readv/writev around the packet so the packet
// itself still sits at slot start + headroom. csum/gso are the batch's per-slot flags.

#ifndef NAPI_VERSION
#define NAPI_VERSION 8
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <net/if.h>
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <uv.h>

// Slots of the optional stats Float64Array (keep in step with src/native/index.ts).
enum {
  STAT_RX_TRUNC = 0,  // packet longer than the slot: dropped
  STAT_RX_ERR = 1,    // read failed with something other than EAGAIN (the batch stops)
  STAT_TX_ERR = 2,    // write failed with something other than EAGAIN (the batch goes on)
  STAT_TX_AGAIN = 3,  // TX packets not written because the queue answered EAGAIN
  STAT_LAST_ERRNO = 4,
  STAT_SLOTS = 5,
};

#define CHECK(call)                                                      \
  do {                                                                   \
    if ((call) != napi_ok) {                                             \
      const napi_extended_error_info* info_ = NULL;                      \
      napi_get_last_error_info(env, &info_);                             \
      bool pending_ = false;                                             \
      napi_is_exception_pending(env, &pending_);                         \
      if (!pending_) {                                                   \
        napi_throw_error(env, NULL,                                      \
                         info_ && info_->error_message                   \
                             ? info_->error_message                      \
                             : "lvsadm_native: Node-API call failed");   \
      }                                                                  \
      return NULL;                                                       \
    }                                                                    \
  } while (0)

// ---------------------------------------------------------------------------------------------
// Errors

static const char* errno_name(int err) {
  const char* n = strerrorname_np(err);
  return n ? n : "EUNKNOWN";
}

// Throws Error("<what>: <strerror>; <hint>") with code = "ENOENT"..., errno and syscall.
static void throw_errno(napi_env env, const char* syscall, const char* what, int err,
                        const char* hint) {
  char msg[256];
  if (hint) {
    snprintf(msg, sizeof msg, "%s: %s; %s", what, strerror(err), hint);
  } else {
    snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  }
  napi_value code, message, error, num, sys;
  if (napi_create_string_utf8(env, errno_name(err), NAPI_AUTO_LENGTH, &code) != napi_ok ||
      napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message) != napi_ok ||
      napi_create_error(env, code, message, &error) != napi_ok) {
    napi_throw_error(env, NULL, msg);
    return;
  }
  napi_create_int32(env, -err, &num);
  napi_set_named_property(env, error, "errno", num);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &sys);
  napi_set_named_property(env, error, "syscall", sys);
  napi_throw(env, error);
}

static const char* open_hint(int err, int at_setiff) {
  switch (err) {
    case ENOENT:
    case ENODEV:
    case ENXIO:
      return at_setiff ? NULL : "no /dev/net/tun (modprobe tun?)";
    case EPERM:
    case EACCES:
      return "needs root or CAP_NET_ADMIN";
    case EBUSY:  // single-queue device already attached to another fd
      return at_setiff ? "device exists with other flags? (or single-queue and open elsewhere)" : NULL;
    case EINVAL:
      return at_setiff ? "device exists with other flags?" : NULL;
    default:
      return NULL;
  }
}

// ---------------------------------------------------------------------------------------------
// Argument helpers: each returns false with a JS exception pending.

static bool arg_int(napi_env env, napi_value v, const char* name, int32_t* out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s must be a number", name);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
    return false;
  }
  if (napi_get_value_int32(env, v, out) != napi_ok) return false;
  return true;
}

static bool arg_nonneg(napi_env env, napi_value v, const char* name, int32_t* out) {
  if (!arg_int(env, v, name, out)) return false;
  if (*out < 0) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s must not be negative", name);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
    return false;
  }
  return true;
}

static bool is_nullish(napi_env env, napi_value v) {
  napi_valuetype t;
  return napi_typeof(env, v, &t) == napi_ok && (t == napi_undefined || t == napi_null);
}

// A typed array of the given type; *data points at its first element.
static bool arg_typed(napi_env env, napi_value v, napi_typedarray_type want, const char* name,
                      void** data, size_t* length) {
  bool is = false;
  napi_typedarray_type type;
  napi_value ab;
  size_t byte_offset;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is ||
      napi_get_typedarray_info(env, v, &type, length, data, &ab, &byte_offset) != napi_ok ||
      type != want) {
    static const char* names[] = {"Int8Array",    "Uint8Array",   "Uint8ClampedArray",
                                  "Int16Array",   "Uint16Array",  "Int32Array",
                                  "Uint32Array",  "Float32Array", "Float64Array",
                                  "BigInt64Array", "BigUint64Array"};
    char msg[96];
    snprintf(msg, sizeof msg, "%s must be a %s", name,
             (unsigned)want < sizeof names / sizeof names[0] ? names[want] : "typed array");
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
    return false;
  }
  if (*length > 0 && *data == NULL) {  // detached buffer
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "buffer is detached");
    return false;
  }
  return true;
}

// The optional stats array: NULL when absent.
static bool arg_stats(napi_env env, size_t argc, napi_value* argv, size_t i, double** stats) {
  *stats = NULL;
  if (argc <= i || is_nullish(env, argv[i])) return true;
  void* data;
  size_t length;
  if (!arg_typed(env, argv[i], napi_float64_array, "stats", &data, &length)) return false;
  if (length < STAT_SLOTS) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "stats needs at least 5 slots");
    return false;
  }
  *stats = data;
  return true;
}

static napi_value make_int(napi_env env, int64_t v) {
  napi_value out;
  if (napi_create_int64(env, v, &out) != napi_ok) return NULL;
  return out;
}

static napi_value make_undefined(napi_env env) {
  napi_value out;
  napi_get_undefined(env, &out);
  return out;
}

// ---------------------------------------------------------------------------------------------
// open / close / setNonBlocking

// What the kernel may hand us with offloads on: partial checksums and TCP GSO up to 64 KB.
#define TUN_OFFLOADS (TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6)
#define VNET_HDR_LEN ((int)sizeof(struct virtio_net_hdr))

static const char* offload_hint(int err) {
  return err == EINVAL ? "kernel without TUN vnet header/offload support?" : open_hint(err, 1);
}

static napi_value tun_open(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "open(name, multiQueue)");
    return NULL;
  }
  char name[IFNAMSIZ + 1];
  size_t name_len = 0;
  napi_valuetype t;
  CHECK(napi_typeof(env, argv[0], &t));
  if (t != napi_string) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "name must be a string");
    return NULL;
  }
  CHECK(napi_get_value_string_utf8(env, argv[0], name, sizeof name, &name_len));
  if (name_len == 0 || name_len >= IFNAMSIZ) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "interface name must be 1 to 15 bytes");
    return NULL;
  }
  bool multi = false;
  if (argc >= 2 && !is_nullish(env, argv[1])) CHECK(napi_get_value_bool(env, argv[1], &multi));
  bool vnet = false;
  if (argc >= 3 && !is_nullish(env, argv[2])) CHECK(napi_get_value_bool(env, argv[2], &vnet));

  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    throw_errno(env, "open", "open /dev/net/tun", err, open_hint(err, 0));
    return NULL;
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, name, name_len);
  // IFF_VNET_HDR is a device flag: the last TUNSETIFF sets it for every queue of the device.
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (multi ? IFF_MULTI_QUEUE : 0) | (vnet ? IFF_VNET_HDR : 0);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int err = errno;
    close(fd);
    char what[64];
    snprintf(what, sizeof what, "TUNSETIFF %s", name);
    throw_errno(env, "ioctl", what, err, open_hint(err, 1));
    return NULL;
  }
  if (vnet) {
    // The header size is the device's, possibly left by another user: set ours explicitly.
    int hdr_sz = VNET_HDR_LEN;
    const char* step = "TUNSETVNETHDRSZ";
    int ok = ioctl(fd, TUNSETVNETHDRSZ, &hdr_sz) == 0;
    if (ok) {
      step = "TUNSETOFFLOAD";
      ok = ioctl(fd, TUNSETOFFLOAD, (unsigned long)TUN_OFFLOADS) == 0;
    }
    if (!ok) {
      int err = errno;
      close(fd);
      char what[64];
      snprintf(what, sizeof what, "%s %s", step, name);
      throw_errno(env, "ioctl", what, err, offload_hint(err));
      return NULL;
    }
  }
  return make_int(env, fd);
}

static napi_value tun_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || !arg_nonneg(env, argv[0], "fd", &fd)) return NULL;
  if (close(fd) < 0 && errno != EINTR) {
    throw_errno(env, "close", "close", errno, NULL);
    return NULL;
  }
  return make_undefined(env);
}

static napi_value set_nonblocking(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int32_t fd;
  bool on = true;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || !arg_nonneg(env, argv[0], "fd", &fd)) return NULL;
  if (argc >= 2 && !is_nullish(env, argv[1])) CHECK(napi_get_value_bool(env, argv[1], &on));
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK) < 0) {
    throw_errno(env, "fcntl", "fcntl O_NONBLOCK", errno, NULL);
    return NULL;
  }
  return make_undefined(env);
}

// ---------------------------------------------------------------------------------------------
// readBatch / writeBatch

// Reads past the slot land here: a read that reaches it was truncated by the slot.
static uint8_t overflow_byte;
// Written before packets whose checksum is complete: no flags, GSO_NONE.
static struct virtio_net_hdr zero_hdr;

// An optional typed argument (absent, null or undefined: *data = NULL) of at least `need`
// elements.
static bool arg_opt_typed(napi_env env, size_t argc, napi_value* argv, size_t i,
                          napi_typedarray_type want, const char* name, size_t need, void** data) {
  *data = NULL;
  if (argc <= i || is_nullish(env, argv[i])) return true;
  size_t length;
  if (!arg_typed(env, argv[i], want, name, data, &length)) return false;
  if (length < need) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s is too short for the slots", name);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
    return false;
  }
  return true;
}

static napi_value read_batch(napi_env env, napi_callback_info info) {
  size_t argc = 12;
  napi_value argv[12];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 7) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE",
                          "readBatch(fd, buf, offs, lens, slotSize, headroom, max, start?, stats?, "
                          "vnet?, csum?, gso?)");
    return NULL;
  }
  int32_t fd, slot_size, headroom, max, start = 0;
  void *buf_p, *offs_p, *lens_p, *vnet_p, *csum_p, *gso_p;
  size_t buf_len, offs_len, lens_len;
  double* stats;
  if (!arg_nonneg(env, argv[0], "fd", &fd) ||
      !arg_typed(env, argv[1], napi_uint8_array, "buf", &buf_p, &buf_len) ||
      !arg_typed(env, argv[2], napi_uint32_array, "offs", &offs_p, &offs_len) ||
      !arg_typed(env, argv[3], napi_uint32_array, "lens", &lens_p, &lens_len) ||
      !arg_nonneg(env, argv[4], "slotSize", &slot_size) ||
      !arg_nonneg(env, argv[5], "headroom", &headroom) ||
      !arg_nonneg(env, argv[6], "max", &max) ||
      (argc > 7 && !is_nullish(env, argv[7]) && !arg_nonneg(env, argv[7], "start", &start)) ||
      !arg_stats(env, argc, argv, 8, &stats)) {
    return NULL;
  }
  size_t end = (size_t)start + (size_t)max;
  if (!arg_opt_typed(env, argc, argv, 9, napi_uint8_array, "vnet", end * VNET_HDR_LEN, &vnet_p) ||
      !arg_opt_typed(env, argc, argv, 10, napi_uint8_array, "csum", end, &csum_p) ||
      !arg_opt_typed(env, argc, argv, 11, napi_uint16_array, "gso", end, &gso_p)) {
    return NULL;
  }
  if (headroom >= slot_size || end > offs_len || end > lens_len ||
      end * (size_t)slot_size > buf_len) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE",
                           "readBatch: slots do not fit the arrays (or headroom >= slotSize)");
    return NULL;
  }
  uint8_t* buf = buf_p;
  uint32_t* offs = offs_p;
  uint32_t* lens = lens_p;
  uint8_t* vnet = vnet_p;
  uint8_t* csum = csum_p;
  uint16_t* gso = gso_p;
  size_t space = (size_t)(slot_size - headroom);
  size_t i = (size_t)start;
  int32_t n = 0;
  // A flood of oversized packets must not keep us here: bound the reads, not just the packets.
  int64_t budget = 2 * (int64_t)max + 1;
  // [virtio_net_hdr when vnet] [packet area] [overflow byte]
  struct iovec iov[3];
  struct iovec* pkt_iov = vnet ? &iov[1] : &iov[0];
  int iovcnt = vnet ? 3 : 2;
  size_t hdr_len = vnet ? VNET_HDR_LEN : 0;
  pkt_iov[1].iov_base = &overflow_byte;
  pkt_iov[1].iov_len = 1;
  while (n < max && budget-- > 0) {
    size_t off = i * (size_t)slot_size + (size_t)headroom;
    if (vnet) {
      iov[0].iov_base = vnet + i * VNET_HDR_LEN;
      iov[0].iov_len = VNET_HDR_LEN;
    }
    pkt_iov[0].iov_base = buf + off;
    pkt_iov[0].iov_len = space;
    ssize_t r = readv(fd, iov, iovcnt);
    if (r < 0) {
      int err = errno;
      if (err == EINTR) continue;
      if (err == EAGAIN || err == EWOULDBLOCK) break;
      if (stats) {
        stats[STAT_RX_ERR] += 1;
        stats[STAT_LAST_ERRNO] = err;
      }
      break;
    }
    if (r == 0) break;
    if ((size_t)r <= hdr_len) {  // a header and no packet: never sent by a TUN, skip it
      if (stats) {
        stats[STAT_RX_ERR] += 1;
        stats[STAT_LAST_ERRNO] = EPROTO;
      }
      continue;
    }
    size_t len = (size_t)r - hdr_len;
    if (len > space) {  // the kernel copied what fit and dropped the rest
      if (stats) stats[STAT_RX_TRUNC] += 1;
      continue;  // reuse the slot
    }
    offs[i] = (uint32_t)off;
    lens[i] = (uint32_t)len;
    if (vnet && (csum || gso)) {
      struct virtio_net_hdr h;
      memcpy(&h, vnet + i * VNET_HDR_LEN, sizeof h);  // the slot need not be aligned
      if (csum) csum[i] = (h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) ? 1 : 0;
      if (gso) {
        gso[i] = (h.gso_type & ~VIRTIO_NET_HDR_GSO_ECN) != VIRTIO_NET_HDR_GSO_NONE ? h.gso_size : 0;
      }
    } else {
      // Without a header the kernel completed the checksum and segmented already.
      if (csum) csum[i] = 0;
      if (gso) gso[i] = 0;
    }
    i++;
    n++;
  }
  return make_int(env, n);
}

static napi_value write_batch(napi_env env, napi_callback_info info) {
  size_t argc = 9;
  napi_value argv[9];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 6) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE",
                          "writeBatch(fd, buf, offs, lens, verdicts, count, stats?, vnet?, csum?)");
    return NULL;
  }
  int32_t fd, count;
  void *buf_p, *offs_p, *lens_p, *verdicts_p = NULL, *vnet_p, *csum_p;
  size_t buf_len, offs_len, lens_len, verdicts_len = 0;
  double* stats;
  if (!arg_nonneg(env, argv[0], "fd", &fd) ||
      !arg_typed(env, argv[1], napi_uint8_array, "buf", &buf_p, &buf_len) ||
      !arg_typed(env, argv[2], napi_uint32_array, "offs", &offs_p, &offs_len) ||
      !arg_typed(env, argv[3], napi_uint32_array, "lens", &lens_p, &lens_len) ||
      (!is_nullish(env, argv[4]) &&
       !arg_typed(env, argv[4], napi_uint8_array, "verdicts", &verdicts_p, &verdicts_len)) ||
      !arg_nonneg(env, argv[5], "count", &count) || !arg_stats(env, argc, argv, 6, &stats)) {
    return NULL;
  }
  size_t cnt = (size_t)count;
  if (!arg_opt_typed(env, argc, argv, 7, napi_uint8_array, "vnet", cnt * VNET_HDR_LEN, &vnet_p) ||
      !arg_opt_typed(env, argc, argv, 8, napi_uint8_array, "csum", cnt, &csum_p)) {
    return NULL;
  }
  if (csum_p && !vnet_p) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "writeBatch: csum needs vnet");
    return NULL;
  }
  if (cnt > offs_len || cnt > lens_len || (verdicts_p && cnt > verdicts_len)) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "writeBatch: count exceeds the arrays");
    return NULL;
  }
  const uint8_t* buf = buf_p;
  const uint32_t* offs = offs_p;
  const uint32_t* lens = lens_p;
  const uint8_t* verdicts = verdicts_p;
  uint8_t* vnet = vnet_p;
  const uint8_t* csum = csum_p;
  // [virtio_net_hdr when vnet] [packet]
  struct iovec iov[2];
  struct iovec* pkt_iov = vnet ? &iov[1] : &iov[0];
  int iovcnt = vnet ? 2 : 1;
  int32_t written = 0;
  for (size_t i = 0; i < cnt; i++) {
    if (verdicts && verdicts[i] != 1) continue;
    size_t off = offs[i], len = lens[i];
    if (len == 0 || off > buf_len || len > buf_len - off) {  // never read outside the buffer
      if (stats) {
        stats[STAT_TX_ERR] += 1;
        stats[STAT_LAST_ERRNO] = EINVAL;
      }
      continue;
    }
    if (vnet) {
      // A partial packet goes out with the header it came with (csum_start/csum_offset count
      // from the packet start, which the engine keeps; the ECN bit of gso_type is kept too).
      // A complete one, built or finished by the engine, gets no flags and no GSO.
      iov[0].iov_base = (csum && csum[i]) ? (void*)(vnet + i * VNET_HDR_LEN) : (void*)&zero_hdr;
      iov[0].iov_len = VNET_HDR_LEN;
    }
    pkt_iov[0].iov_base = (void*)(buf + off);
    pkt_iov[0].iov_len = len;
    ssize_t r;
    do {
      r = writev(fd, iov, iovcnt);
    } while (r < 0 && errno == EINTR);
    if (r >= 0) {
      written++;
      continue;
    }
    int err = errno;
    if (err == EAGAIN || err == EWOULDBLOCK) {
      if (stats) {
        double left = 0;
        for (size_t j = i; j < cnt; j++) {
          if (!verdicts || verdicts[j] == 1) left += 1;
        }
        stats[STAT_TX_AGAIN] += left;
      }
      break;
    }
    if (stats) {
      stats[STAT_TX_ERR] += 1;
      stats[STAT_LAST_ERRNO] = err;
    }
  }
  return make_int(env, written);
}

// ---------------------------------------------------------------------------------------------
// poll: a uv_poll_t on the fd that calls back into JS when it is readable.
//
// The struct lives until both the uv handle is closed and the JS handle object is collected,
// so stop() can be called any number of times, and a handle dropped without stop() keeps
// polling (its callback stays referenced) until the environment is torn down.

typedef struct {
  uv_poll_t handle;
  napi_env env;
  napi_ref callback;
  napi_async_context async;
  bool active;       // started and not stopped
  bool closed;       // uv_close finished
  bool finalized;    // JS handle object collected
  bool in_callback;  // inside napi_make_callback: the async context is in use
  bool release_due;  // stopped from inside the callback: release the JS side after it
} tun_poll;

static void poll_closed(uv_handle_t* h) {
  tun_poll* p = (tun_poll*)h->data;
  p->closed = true;
  if (p->finalized) free(p);
}

// Stops the uv side and releases the JS side. from_hook: called as the environment's cleanup
// hook (a worker ending, or the process exiting with the poll still running).
static void poll_stop(tun_poll* p, bool from_hook);

static void poll_cleanup_hook(void* arg) { poll_stop((tun_poll*)arg, true); }

static void poll_release_js(tun_poll* p) {
  napi_delete_reference(p->env, p->callback);
  napi_async_destroy(p->env, p->async);
  p->callback = NULL;
  p->async = NULL;
  p->release_due = false;
}

static void poll_stop(tun_poll* p, bool from_hook) {
  if (!p->active) return;
  p->active = false;
  uv_poll_stop(&p->handle);
  uv_close((uv_handle_t*)&p->handle, poll_closed);
  if (!from_hook) napi_remove_env_cleanup_hook(p->env, poll_cleanup_hook, p);
  if (p->in_callback) {
    p->release_due = true;
  } else {
    poll_release_js(p);
  }
}

static void poll_finalize(napi_env env, void* data, void* hint) {
  (void)env;
  (void)hint;
  tun_poll* p = data;
  p->finalized = true;
  if (p->closed) free(p);
}

static void poll_ready(uv_poll_t* h, int status, int events) {
  (void)events;
  tun_poll* p = (tun_poll*)h->data;
  if (!p->active) return;
  napi_env env = p->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value cb, recv, result, argv[1];
  size_t argc = 0;
  if (napi_get_reference_value(env, p->callback, &cb) == napi_ok && cb != NULL) {
    napi_get_global(env, &recv);  // make_callback needs an object receiver
    if (status < 0) {  // e.g. EBADF: hand it to JS, which decides whether to stop
      napi_value code, msg;
      napi_create_string_utf8(env, uv_err_name(status), NAPI_AUTO_LENGTH, &code);
      napi_create_string_utf8(env, uv_strerror(status), NAPI_AUTO_LENGTH, &msg);
      napi_create_error(env, code, msg, &argv[0]);
      argc = 1;
    }
    p->in_callback = true;
    napi_status st = napi_make_callback(env, p->async, recv, cb, argc, argv, &result);
    p->in_callback = false;
    if (p->release_due) poll_release_js(p);  // stop() was called by the callback
    if (st != napi_ok) {
      bool pending = false;
      napi_is_exception_pending(env, &pending);
      if (pending) {
        napi_value exc;
        napi_get_and_clear_last_exception(env, &exc);
        napi_fatal_exception(env, exc);  // 'uncaughtException', as for any other callback
      }
    }
  }
  napi_close_handle_scope(env, scope);
}

static napi_value poll_stop_js(napi_env env, napi_callback_info info) {
  napi_value self;
  CHECK(napi_get_cb_info(env, info, NULL, NULL, &self, NULL));
  tun_poll* p = NULL;
  if (napi_unwrap(env, self, (void**)&p) != napi_ok || p == NULL) {
    napi_throw_type_error(env, "ERR_INVALID_THIS", "stop() must be called on a poll handle");
    return NULL;
  }
  poll_stop(p, false);
  return make_undefined(env);
}

static napi_value tun_poll_start(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd;
  napi_valuetype t = napi_undefined;
  if (argc < 2 || !arg_nonneg(env, argv[0], "fd", &fd)) {
    if (argc < 2) napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "poll(fd, callback)");
    return NULL;
  }
  CHECK(napi_typeof(env, argv[1], &t));
  if (t != napi_function) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "callback must be a function");
    return NULL;
  }
  uv_loop_t* loop;
  CHECK(napi_get_uv_event_loop(env, &loop));

  tun_poll* p = calloc(1, sizeof *p);
  if (!p) {
    napi_throw_error(env, "ENOMEM", "poll: out of memory");
    return NULL;
  }
  p->env = env;
  p->handle.data = p;
  int rc = uv_poll_init(loop, &p->handle, fd);
  if (rc < 0) {
    free(p);
    throw_errno(env, "uv_poll_init", "poll", -rc, NULL);
    return NULL;
  }
  rc = uv_poll_start(&p->handle, UV_READABLE, poll_ready);
  if (rc < 0) {
    p->finalized = true;  // nothing on the JS side: free on close
    uv_close((uv_handle_t*)&p->handle, poll_closed);
    throw_errno(env, "uv_poll_start", "poll", -rc, NULL);
    return NULL;
  }
  p->active = true;

  napi_value obj, name;
  napi_property_descriptor props[] = {
      {"stop", NULL, poll_stop_js, NULL, NULL, NULL, napi_default, NULL},
  };
  if (napi_create_object(env, &obj) != napi_ok ||
      napi_define_properties(env, obj, 1, props) != napi_ok ||
      napi_create_string_utf8(env, "lvsadm:tun-poll", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_reference(env, argv[1], 1, &p->callback) != napi_ok ||
      napi_async_init(env, obj, name, &p->async) != napi_ok ||
      napi_wrap(env, obj, p, poll_finalize, NULL, NULL) != napi_ok) {
    // Unlikely (out of memory): stop the uv side; the struct is freed when it has closed.
    p->active = false;
    uv_poll_stop(&p->handle);
    if (p->callback) napi_delete_reference(env, p->callback);
    if (p->async) napi_async_destroy(env, p->async);
    p->finalized = true;
    uv_close((uv_handle_t*)&p->handle, poll_closed);
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (!pending) napi_throw_error(env, NULL, "poll: could not create the handle");
    return NULL;
  }
  napi_add_env_cleanup_hook(env, poll_cleanup_hook, p);
  return obj;
}

// ---------------------------------------------------------------------------------------------
// getPeerCred: SO_PEERCRED of a connected unix socket (the control socket's client).

static napi_value get_peer_cred(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || !arg_nonneg(env, argv[0], "fd", &fd)) return NULL;
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
    throw_errno(env, "getsockopt", "getsockopt SO_PEERCRED", errno, NULL);
    return NULL;
  }
  napi_value obj;
  CHECK(napi_create_object(env, &obj));
  CHECK(napi_set_named_property(env, obj, "pid", make_int(env, cred.pid)));
  CHECK(napi_set_named_property(env, obj, "uid", make_int(env, cred.uid)));
  CHECK(napi_set_named_property(env, obj, "gid", make_int(env, cred.gid)));
  return obj;
}

// ---------------------------------------------------------------------------------------------
// tryLock: an exclusive flock(2) on an open file, without waiting. The kernel drops it when the
// process dies however it dies (kill -9 included), which a pid file alone cannot promise.

static napi_value try_lock(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || !arg_nonneg(env, argv[0], "fd", &fd)) return NULL;
  int r;
  do {
    r = flock(fd, LOCK_EX | LOCK_NB);
  } while (r < 0 && errno == EINTR);
  napi_value out;
  if (r < 0 && errno != EWOULDBLOCK) {
    throw_errno(env, "flock", "flock", errno, NULL);
    return NULL;
  }
  CHECK(napi_get_boolean(env, r == 0, &out));
  return out;
}

// ---------------------------------------------------------------------------------------------

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"open", NULL, tun_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, tun_close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setNonBlocking", NULL, set_nonblocking, NULL, NULL, NULL, napi_enumerable, NULL},
      {"readBatch", NULL, read_batch, NULL, NULL, NULL, napi_enumerable, NULL},
      {"writeBatch", NULL, write_batch, NULL, NULL, NULL, napi_enumerable, NULL},
      {"poll", NULL, tun_poll_start, NULL, NULL, NULL, napi_enumerable, NULL},
      {"getPeerCred", NULL, get_peer_cred, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tryLock", NULL, try_lock, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) {
    return NULL;
  }
  return exports;
}
