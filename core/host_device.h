#ifndef FERRY_CORE_HOST_DEVICE_H_
#define FERRY_CORE_HOST_DEVICE_H_

// FERRY_HOST_DEVICE marks a function of a header that both the C++ compiler and nvcc read
// (the Philox generator, the FFT and convolution geometry, quantized packing) as callable
// from device code too; it is empty outside nvcc. Plain C: no includes.

#if defined(__CUDACC__)
#define FERRY_HOST_DEVICE __host__ __device__
#else
#define FERRY_HOST_DEVICE
#endif

#endif  // FERRY_CORE_HOST_DEVICE_H_
