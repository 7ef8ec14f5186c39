/*
 * dense.h: a dense block's kernels, written once for any vector width.
 *
 * tape.c includes this file once per width, first defining
 *   KERNEL(name)  the name of this width's copy (name##_256, name##_512);
 *   KERNEL_ATTR   its target attributes;
 *   VEC, LANES    a GCC vector type of LANES doubles (loaded and stored unaligned),
 *                 or no VEC, where there is no vector type: then only the scalar
 *                 loops below run.
 * A vector only decides which sums run side by side: every sum is computed by the
 * same additions in the same order at any width, and lane by lane + and * round as
 * the scalar ones do, so every copy gives the same bits.
 */
#ifdef VEC
#define LOADV(p) (*(const VEC *)(p))
#define STOREV(p, a) (*(VEC *)(p) = (a))
#endif

/* out[r][j] = bias[j] + the sum of wt[i][j] * x[r][i], i in order, for every row:
 * 2 LANES neurons by four rows at a time, their sums held in registers throughout,
 * then the neurons left LANES at a time. wt and bias are padded by 8 doubles, so
 * that the last vector loads stay in bounds; lanes past nout are never stored */
KERNEL_ATTR static void KERNEL(block_forward)(const double *restrict wt,
                                              const double *restrict bias,
                                              const double *restrict x, double *restrict out,
                                              uint32_t rows, uint32_t nin, uint32_t nout) {
    uint32_t r = 0;
#ifdef VEC
    for (; r + 4 <= rows; r += 4) {
        const double *x0 = x + (size_t)r * nin, *x1 = x0 + nin, *x2 = x1 + nin, *x3 = x2 + nin;
        uint32_t j = 0;
        for (; j + 2 * LANES <= nout; j += 2 * LANES) {
            VEC b_lo = LOADV(bias + j), b_hi = LOADV(bias + j + LANES);
            VEC a0 = b_lo, a1 = b_lo, a2 = b_lo, a3 = b_lo, c0 = b_hi, c1 = b_hi, c2 = b_hi, c3 = b_hi;
            for (uint32_t i = 0; i < nin; i++) {
                const double *w = wt + (size_t)i * nout + j;
                VEC lo = LOADV(w), hi = LOADV(w + LANES);
                double e0 = x0[i], e1 = x1[i], e2 = x2[i], e3 = x3[i];
                a0 = a0 + lo * e0; c0 = c0 + hi * e0;
                a1 = a1 + lo * e1; c1 = c1 + hi * e1;
                a2 = a2 + lo * e2; c2 = c2 + hi * e2;
                a3 = a3 + lo * e3; c3 = c3 + hi * e3;
            }
            double *o = out + (size_t)r * nout + j;
            STOREV(o, a0); STOREV(o + LANES, c0); o += nout;
            STOREV(o, a1); STOREV(o + LANES, c1); o += nout;
            STOREV(o, a2); STOREV(o + LANES, c2); o += nout;
            STOREV(o, a3); STOREV(o + LANES, c3);
        }
        for (; j < nout; j += LANES) {
            VEC b = LOADV(bias + j);
            VEC a0 = b, a1 = b, a2 = b, a3 = b;
            for (uint32_t i = 0; i < nin; i++) {
                VEC w = LOADV(wt + (size_t)i * nout + j);
                a0 = a0 + w * x0[i];
                a1 = a1 + w * x1[i];
                a2 = a2 + w * x2[i];
                a3 = a3 + w * x3[i];
            }
            double *o = out + (size_t)r * nout + j;
            for (uint32_t k = 0; k < LANES && j + k < nout; k++) {
                o[k] = a0[k];
                o[nout + k] = a1[k];
                o[2 * nout + k] = a2[k];
                o[3 * nout + k] = a3[k];
            }
        }
    }
#endif
    for (; r < rows; r++) {
        memcpy(out + (size_t)r * nout, bias, nout * sizeof(double));
        rows_forward(wt, x + (size_t)r * nin, out + (size_t)r * nout, nin, nout);
    }
}

/* gw[j][i] += the sum of x[r][i] * g[r][j], from the last row to the first, for
 * gw[j] = gwrow[j]: four neurons by 2 LANES inputs at a time, their sums held in
 * registers through all the rows. The sums start from gw itself, or (from_zero)
 * from 0, to be added to gw at the end, as a tape slot's grad is to its leaf's.
 * g's rows are ldg apart (nout for all the neurons, more for a share of them) */
KERNEL_ATTR static void KERNEL(block_weight_grads)(double *const *gwrow, int from_zero,
                                                   const double *restrict x,
                                                   const double *restrict g, uint32_t rows,
                                                   uint32_t nin, uint32_t nout, uint32_t ldg) {
    uint32_t j = 0;
#ifdef VEC
    VEC zero = {0.0};
    for (; j + 4 <= nout; j += 4) {
        double *restrict w0 = gwrow[j], *restrict w1 = gwrow[j + 1], *restrict w2 = gwrow[j + 2],
                         *restrict w3 = gwrow[j + 3];
        uint32_t i = 0;
        for (; i + 2 * LANES <= nin; i += 2 * LANES) {
            VEC a0 = zero, c0 = zero, a1 = zero, c1 = zero, a2 = zero, c2 = zero, a3 = zero, c3 = zero;
            if (!from_zero) {
                a0 = LOADV(w0 + i); c0 = LOADV(w0 + i + LANES); a1 = LOADV(w1 + i); c1 = LOADV(w1 + i + LANES);
                a2 = LOADV(w2 + i); c2 = LOADV(w2 + i + LANES); a3 = LOADV(w3 + i); c3 = LOADV(w3 + i + LANES);
            }
            for (uint32_t r = rows; r-- > 0;) {
                const double *xr = x + (size_t)r * nin + i, *gr = g + (size_t)r * ldg + j;
                VEC lo = LOADV(xr), hi = LOADV(xr + LANES);
                double g0 = gr[0], g1 = gr[1], g2 = gr[2], g3 = gr[3];
                a0 = a0 + lo * g0; c0 = c0 + hi * g0;
                a1 = a1 + lo * g1; c1 = c1 + hi * g1;
                a2 = a2 + lo * g2; c2 = c2 + hi * g2;
                a3 = a3 + lo * g3; c3 = c3 + hi * g3;
            }
            if (from_zero) {
                a0 = LOADV(w0 + i) + a0; c0 = LOADV(w0 + i + LANES) + c0;
                a1 = LOADV(w1 + i) + a1; c1 = LOADV(w1 + i + LANES) + c1;
                a2 = LOADV(w2 + i) + a2; c2 = LOADV(w2 + i + LANES) + c2;
                a3 = LOADV(w3 + i) + a3; c3 = LOADV(w3 + i + LANES) + c3;
            }
            STOREV(w0 + i, a0); STOREV(w0 + i + LANES, c0); STOREV(w1 + i, a1); STOREV(w1 + i + LANES, c1);
            STOREV(w2 + i, a2); STOREV(w2 + i + LANES, c2); STOREV(w3 + i, a3); STOREV(w3 + i + LANES, c3);
        }
        for (; i < nin; i++)
            for (uint32_t q = j; q < j + 4; q++) {
                double a = from_zero ? 0.0 : gwrow[q][i];
                for (uint32_t r = rows; r-- > 0;) a = a + x[(size_t)r * nin + i] * g[(size_t)r * ldg + q];
                gwrow[q][i] = from_zero ? gwrow[q][i] + a : a;
            }
    }
    for (; j < nout; j++) {  /* a neuron at a time, 2 LANES inputs */
        double *restrict w = gwrow[j];
        uint32_t i = 0;
        for (; i + 2 * LANES <= nin; i += 2 * LANES) {
            VEC a = from_zero ? zero : LOADV(w + i), c = from_zero ? zero : LOADV(w + i + LANES);
            for (uint32_t r = rows; r-- > 0;) {
                const double *xr = x + (size_t)r * nin + i;
                double gr = g[(size_t)r * ldg + j];
                a = a + LOADV(xr) * gr;
                c = c + LOADV(xr + LANES) * gr;
            }
            if (from_zero) {
                a = LOADV(w + i) + a;
                c = LOADV(w + i + LANES) + c;
            }
            STOREV(w + i, a);
            STOREV(w + i + LANES, c);
        }
#else
    for (; j < nout; j++) {
        double *restrict w = gwrow[j];
        uint32_t i = 0;
#endif
        for (; i < nin; i++) {
            double a = from_zero ? 0.0 : w[i];
            for (uint32_t r = rows; r-- > 0;) a = a + x[(size_t)r * nin + i] * g[(size_t)r * ldg + j];
            w[i] = from_zero ? w[i] + a : a;
        }
    }
}

/* gx[r][i] += wrow[j][i] * g[r][j], from the last neuron to the first: four rows by
 * 2 LANES inputs at a time, their sums held in registers through all the neurons */
KERNEL_ATTR static void KERNEL(block_input_grads)(double *restrict gx, const double *const *wrow,
                                                  const double *restrict g, uint32_t rows,
                                                  uint32_t nin, uint32_t nout) {
    uint32_t r = 0;
    for (; r + 4 <= rows; r += 4) {
        double *x0 = gx + (size_t)r * nin, *x1 = x0 + nin, *x2 = x1 + nin, *x3 = x2 + nin;
        const double *g0 = g + (size_t)r * nout, *g1 = g0 + nout, *g2 = g1 + nout, *g3 = g2 + nout;
        uint32_t i = 0;
#ifdef VEC
        for (; i + 2 * LANES <= nin; i += 2 * LANES) {
            VEC a0 = LOADV(x0 + i), c0 = LOADV(x0 + i + LANES), a1 = LOADV(x1 + i), c1 = LOADV(x1 + i + LANES);
            VEC a2 = LOADV(x2 + i), c2 = LOADV(x2 + i + LANES), a3 = LOADV(x3 + i), c3 = LOADV(x3 + i + LANES);
            for (uint32_t j = nout; j-- > 0;) {
                VEC lo = LOADV(wrow[j] + i), hi = LOADV(wrow[j] + i + LANES);
                a0 = a0 + lo * g0[j]; c0 = c0 + hi * g0[j];
                a1 = a1 + lo * g1[j]; c1 = c1 + hi * g1[j];
                a2 = a2 + lo * g2[j]; c2 = c2 + hi * g2[j];
                a3 = a3 + lo * g3[j]; c3 = c3 + hi * g3[j];
            }
            STOREV(x0 + i, a0); STOREV(x0 + i + LANES, c0); STOREV(x1 + i, a1); STOREV(x1 + i + LANES, c1);
            STOREV(x2 + i, a2); STOREV(x2 + i + LANES, c2); STOREV(x3 + i, a3); STOREV(x3 + i + LANES, c3);
        }
#endif
        for (; i < nin; i++)
            for (uint32_t q = 0; q < 4; q++)
                for (uint32_t j = nout; j-- > 0;)
                    x0[(size_t)q * nin + i] = x0[(size_t)q * nin + i] + wrow[j][i] * g0[(size_t)q * nout + j];
    }
    for (; r < rows; r++)
        for (uint32_t j = nout; j-- > 0;)
            axpy(gx + (size_t)r * nin, wrow[j], g[(size_t)r * nout + j], nin);
}

/* gw[j][i] += the sum of x[r][i] * g[j][k] over the rows r = rows[j][k] listed for
 * neuron j (k < count[j], in that order), summed from 0, for gw[j] = gwrow[j] and
 * nout neurons: each neuron's weight grads over the rows that give it a term (a
 * ReLU layer's zero grads left out). Eight vectors of inputs at a time, every
 * neuron over them before the next, so that those inputs stay in the L1 cache.
 * A neuron's lists are rows (stride) apart */
KERNEL_ATTR static void KERNEL(sparse_weight_grads)(double *const *gwrow, const double *restrict x,
                                                    const uint32_t *restrict rows,
                                                    const double *restrict g,
                                                    const uint32_t *restrict count,
                                                    uint32_t stride, uint32_t nin, uint32_t nout) {
    uint32_t i = 0;
#ifdef VEC
    VEC zero = {0.0};
    for (; i + 8 * LANES <= nin; i += 8 * LANES)
        for (uint32_t j = 0; j < nout; j++) {
            const uint32_t *rj = rows + (size_t)j * stride;
            const double *gj = g + (size_t)j * stride;
            VEC a0 = zero, a1 = zero, a2 = zero, a3 = zero, a4 = zero, a5 = zero, a6 = zero, a7 = zero;
            for (uint32_t k = 0; k < count[j]; k++) {
                const double *xr = x + (size_t)rj[k] * nin + i;
                double gk = gj[k];
                a0 = a0 + LOADV(xr) * gk;
                a1 = a1 + LOADV(xr + LANES) * gk;
                a2 = a2 + LOADV(xr + 2 * LANES) * gk;
                a3 = a3 + LOADV(xr + 3 * LANES) * gk;
                a4 = a4 + LOADV(xr + 4 * LANES) * gk;
                a5 = a5 + LOADV(xr + 5 * LANES) * gk;
                a6 = a6 + LOADV(xr + 6 * LANES) * gk;
                a7 = a7 + LOADV(xr + 7 * LANES) * gk;
            }
            double *w = gwrow[j] + i;
            STOREV(w, LOADV(w) + a0);
            STOREV(w + LANES, LOADV(w + LANES) + a1);
            STOREV(w + 2 * LANES, LOADV(w + 2 * LANES) + a2);
            STOREV(w + 3 * LANES, LOADV(w + 3 * LANES) + a3);
            STOREV(w + 4 * LANES, LOADV(w + 4 * LANES) + a4);
            STOREV(w + 5 * LANES, LOADV(w + 5 * LANES) + a5);
            STOREV(w + 6 * LANES, LOADV(w + 6 * LANES) + a6);
            STOREV(w + 7 * LANES, LOADV(w + 7 * LANES) + a7);
        }
    for (; i + LANES <= nin; i += LANES)
        for (uint32_t j = 0; j < nout; j++) {
            VEC a = zero;
            for (uint32_t k = 0; k < count[j]; k++)
                a = a + LOADV(x + (size_t)rows[(size_t)j * stride + k] * nin + i) * g[(size_t)j * stride + k];
            STOREV(gwrow[j] + i, LOADV(gwrow[j] + i) + a);
        }
#endif
    for (; i < nin; i++)
        for (uint32_t j = 0; j < nout; j++) {
            double a = 0.0;
            for (uint32_t k = 0; k < count[j]; k++)
                a = a + x[(size_t)rows[(size_t)j * stride + k] * nin + i] * g[(size_t)j * stride + k];
            gwrow[j][i] = gwrow[j][i] + a;
        }
}

#ifdef VEC
#undef LOADV
#undef STOREV
#endif
