# The native addon: TUN packet I/O (src/native/tun.c), built by `npm ci` (install script) and
# `npm run build:native` with node-gyp against the running Node's headers (npm's nodedir).
{
  "targets": [
    {
      "target_name": "lvsadm_native",
      "sources": ["src/native/tun.c"],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"],
      "cflags_c": ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-fvisibility=hidden"]
    }
  ]
}
