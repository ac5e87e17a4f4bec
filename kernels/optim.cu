// Optimizer updates over the optimizer's flat parameter buffer: one launch per step for all
// parameters, with torch.optim's single-tensor update rules.
#include "common.cuh"

// torch.optim.Adam/AdamW: bias_correction1 = 1 - beta1^t, bias_correction2_sqrt = sqrt(1 - beta2^t).
// Coupled weight decay arrives as weight_decay (added to the gradient), AdamW's decoupled one as
// decay_factor = 1 - lr * weight_decay (rounded once on the host, as torch's param.mul_(python float)).
// amsgrad != 0: max_exp_avg_sq keeps the running max of exp_avg_sq, which then stands in the denominator.
template <typename T>
__device__ void adam_step(T* param, const T* grad, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq, i64 n, T lr,
                          T beta1, T beta2, T eps, T weight_decay, T decay_factor, T bias_correction1,
                          T bias_correction2_sqrt, int amsgrad, int maximize) {
    T step_size = lr / bias_correction1;
    T w = T(1) - beta1;
    GRID_STRIDE(i, n) {
        T g = maximize ? -grad[i] : grad[i];
        T p = param[i];
        if (decay_factor != T(1)) p *= decay_factor;
        if (weight_decay != T(0)) g += weight_decay * p;
        T m = exp_avg[i];
        // exp_avg.lerp_(grad, 1 - beta1) with torch's two formulas (small and large weight)
        m = w < T(0.5) ? m + w * (g - m) : g - (g - m) * (T(1) - w);
        T v = exp_avg_sq[i] * beta2 + (T(1) - beta2) * g * g;
        exp_avg[i] = m;
        exp_avg_sq[i] = v;
        if (amsgrad) {
            v = max(max_exp_avg_sq[i], v);
            max_exp_avg_sq[i] = v;
        }
        T denom = sqrt(v) / bias_correction2_sqrt + eps;
        param[i] = p - step_size * (m / denom);
    }
}

// torch.optim.SGD: momentum buffer starts as a copy of the gradient (first != 0)
template <typename T>
__device__ void sgd_step(T* param, const T* grad, T* buf, i64 n, T lr, T momentum, T dampening,
                         T weight_decay, int nesterov, int first, int maximize) {
    GRID_STRIDE(i, n) {
        T g = maximize ? -grad[i] : grad[i];
        if (weight_decay != T(0)) g += weight_decay * param[i];
        if (momentum != T(0)) {
            T b = first ? g : buf[i] * momentum + (T(1) - dampening) * g;
            buf[i] = b;
            g = nesterov ? g + momentum * b : b;
        }
        param[i] -= lr * g;
    }
}

#define INSTANTIATE(T, S)                                                                                    \
    extern "C" __global__ void adam_step_##S(T* p, const T* g, T* m, T* v, T* vmax, i64 n, T lr, T b1, T b2,  \
                                             T eps, T wd, T decay, T bc1, T bc2_sqrt, int amsgrad,            \
                                             int maximize) {                                                  \
        adam_step<T>(p, g, m, v, vmax, n, lr, b1, b2, eps, wd, decay, bc1, bc2_sqrt, amsgrad, maximize);     \
    }                                                                                                        \
    extern "C" __global__ void sgd_step_##S(T* p, const T* g, T* buf, i64 n, T lr, T momentum, T damp,       \
                                            T wd, int nesterov, int first, int maximize) {                   \
        sgd_step<T>(p, g, buf, n, lr, momentum, damp, wd, nesterov, first, maximize);                        \
    }
INSTANTIATE(float, f32)
INSTANTIATE(double, f64)
