// Optimizer updates over the optimizer's flat parameter buffer: one launch per step for all
// parameters, with torch.optim's single-tensor update rules.
#include "common.cuh"

// torch.optim.Adam (amsgrad=False): bias_correction1 = 1 - beta1^t, bias_correction2_sqrt = sqrt(1 - beta2^t)
template <typename T>
__device__ void adam_step(T* param, const T* grad, T* exp_avg, T* exp_avg_sq, i64 n, T lr, T beta1, T beta2,
                          T eps, T weight_decay, T bias_correction1, T bias_correction2_sqrt) {
    T step_size = lr / bias_correction1;
    GRID_STRIDE(i, n) {
        T g = grad[i];
        if (weight_decay != T(0)) g += weight_decay * param[i];
        T m = exp_avg[i];
        m += (g - m) * (T(1) - beta1);  // exp_avg.lerp_(grad, 1 - beta1)
        T v = exp_avg_sq[i] * beta2 + (T(1) - beta2) * g * g;
        exp_avg[i] = m;
        exp_avg_sq[i] = v;
        T denom = sqrt(v) / bias_correction2_sqrt + eps;
        param[i] -= step_size * (m / denom);
    }
}

// torch.optim.SGD: momentum buffer starts as a copy of the gradient (first != 0)
template <typename T>
__device__ void sgd_step(T* param, const T* grad, T* buf, i64 n, T lr, T momentum, T dampening,
                         T weight_decay, int nesterov, int first) {
    GRID_STRIDE(i, n) {
        T g = grad[i];
        if (weight_decay != T(0)) g += weight_decay * param[i];
        if (momentum != T(0)) {
            T b = first ? g : buf[i] * momentum + (T(1) - dampening) * g;
            buf[i] = b;
            g = nesterov ? g + momentum * b : b;
        }
        param[i] -= lr * g;
    }
}

#define INSTANTIATE(T, S)                                                                                 \
    extern "C" __global__ void adam_step_##S(T* p, const T* g, T* m, T* v, i64 n, T lr, T b1, T b2, T eps, \
                                             T wd, T bc1, T bc2_sqrt) {                                   \
        adam_step<T>(p, g, m, v, n, lr, b1, b2, eps, wd, bc1, bc2_sqrt);                                  \
    }                                                                                                     \
    extern "C" __global__ void sgd_step_##S(T* p, const T* g, T* buf, i64 n, T lr, T momentum, T damp,    \
                                            T wd, int nesterov, int first) {                              \
        sgd_step<T>(p, g, buf, n, lr, momentum, damp, wd, nesterov, first);                               \
    }
INSTANTIATE(float, f32)
INSTANTIATE(double, f64)
