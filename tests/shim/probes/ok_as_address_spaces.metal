// compiles: the legal neighbours of the address-space, threadgroup, long and call probes
#include <metal_stdlib>
using namespace metal;
constant float table[4] = {1.0f, 2.0f, 3.0f, 4.0f}; // program scope: constant
void scale(device float *p, uint i) { p[i] *= table[i % 4u]; }
void scale(threadgroup float *p, uint i) { p[i] *= 2.0f; } // overloaded by address space
float sum(threadgroup const float *t, uint n) {
  float s = 0.0f;
  for (uint j = 0; j < n; j++) s += t[j];
  return s;
}
uint twice(uint v) { return 2u * v; }
int twice(int v) { return int(twice(uint(v))); } // an overload calling another: not recursion
kernel void k(device float* x [[buffer(0)]], device const float* y [[buffer(1)]],
              constant float* c [[buffer(2)]], device atomic_int* n [[buffer(3)]],
              constant int& m [[buffer(4)]], uint i [[thread_index_in_threadgroup]]) {
  threadgroup float tile[64];
  threadgroup atomic_int hits;
  threadgroup __attribute__((aligned(16))) half staged[64];
  if (i == 0) atomic_store_explicit(&hits, 0, memory_order_relaxed);
  tile[i] = y[i] + c[0];
  staged[i] = half(tile[i]);
  threadgroup_barrier(mem_flags::mem_threadgroup);
  threadgroup float *t = tile;
  scale(t, i);
  scale(x, i);
  device float *d = x + 1;
  long wide = long(m) * 3;
  int mask = int(i) & m; // a bitwise and, not a function's address
  int lanes[4] = {0, 1, 2, 3};
  atomic_fetch_add_explicit(&hits, lanes[i % 4u] + mask, memory_order_relaxed);
  atomic_fetch_add_explicit(n, twice(1), memory_order_relaxed);
  simdgroup_float8x8 a;
  simdgroup_load(a, tile);
  simdgroup_load(a, y);
  simdgroup_store(a, tile + 0);
  simdgroup_store(a, x);
  d[i] = sum(tile, 4u) + float(wide) + float(staged[i]);
}
