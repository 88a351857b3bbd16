{
  "target_defaults": {
    "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17"],
    "cflags_cc": ["-std=c++20", "-fexceptions", "-O3", "-march=native", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"],
    "include_dirs": ["src"],
    "defines": ["NAPI_VERSION=9", "NAPI_CPP_EXCEPTIONS"]
  },
  "targets": [
    {
      "target_name": "kube_lcp",
      "sources": ["<!@(ls src/*/*.cc)"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "<(SHARED_INTERMEDIATE_DIR)"],
      "actions": [
        {
          "action_name": "xdp_fastpath_object",
          "inputs": ["src/xdp/fastpath.bpf.c", "src/xdp/fastpath_abi.h", "src/xdp/embed_bpf.sh"],
          "outputs": ["<(SHARED_INTERMEDIATE_DIR)/xdp/fastpath_bpf_obj.h"],
          "action": ["sh", "src/xdp/embed_bpf.sh", "src/xdp/fastpath.bpf.c", "<(SHARED_INTERMEDIATE_DIR)/xdp/fastpath_bpf_obj.h"],
          "message": "clang -target bpf: XDP fast path"
        }
      ],
      "libraries": ["-lmnl", "-lbpf", "-lpthread"]
    },
    {
      "target_name": "lpm_test",
      "type": "executable",
      "sources": ["../test/native/lpm_test.cc", "<!@(ls src/fib/*.cc)"],
      "libraries": ["-lpthread"]
    },
    {
      "target_name": "nl_test",
      "type": "executable",
      "sources": ["../test/native/nl_test.cc", "src/linux_nl/messages.cc", "src/linux_nl/state.cc", "src/fib/parse.cc"],
      "libraries": ["-lmnl"]
    },
    {
      "target_name": "io_smoke",
      "type": "executable",
      "sources": ["../test/native/io_smoke.cc", "<!@(ls src/io/*.cc)"],
      "libraries": ["-lmnl", "-lbpf", "-lpthread"]
    }
  ]
}
