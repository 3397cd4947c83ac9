{
  "targets": [
    {
      "target_name": "verdict_udp",
      "sources": ["udp.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-std=gnu11"],
      "conditions": [
        ["OS!='linux'", { "type": "none", "sources!": ["udp.c"] }]
      ]
    }
  ]
}
