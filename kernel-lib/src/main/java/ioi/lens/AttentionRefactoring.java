package ioi.lens;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.Map;
import org.ejml.data.DMatrixRMaj;
import org.ejml.dense.row.CommonOps_DDRM;
import org.ejml.dense.row.SingularOps_DDRM;
import org.ejml.dense.row.factory.DecompositionFactory_DDRM;
import org.ejml.interfaces.decomposition.SingularValueDecomposition_F64;

/**
 * TransformerLens's {@code refactor_factored_attn_matrices}: keeps every head's
 * {@code W_QK = W_Q W_K^T} (with the biases as an extra input coordinate) and
 * {@code W_OV = W_V W_O} but re-factorises them through their SVD, so that
 * {@code W_Q = U sqrt(S)}, {@code W_K = V sqrt(S)}, {@code W_V = U S} and {@code W_O = V^T}
 * (orthonormal rows). Scores, patterns and {@code attn_out} are unchanged; {@code q, k, v, z}
 * are in a new basis, defined up to the sign of each singular direction (so they can differ from
 * TL's by a sign per {@code d_head} component, which cancels in every product).
 *
 * <p>The SVD is computed as TL's {@code FactoredMatrix.svd} does, from thin SVDs of the two
 * factors and a small {@code d_head x d_head} middle matrix, in double precision with EJML
 * (DJL exposes no SVD).
 */
final class AttentionRefactoring {

    private AttentionRefactoring() {}

    /** U [m, k], S [k] (descending), V [n, k] with U diag(S) V^T = A B. */
    private record Svd(DMatrixRMaj u, double[] s, DMatrixRMaj v) {}

    static void refactor(Map<String, NDArray> sd, GPT2Config cfg) {
        int h = cfg.nHeads();
        int d = cfg.dModel();
        int e = cfg.dHead();
        for (int l = 0; l < cfg.nLayers(); l++) {
            String p = "blocks." + l + ".attn.";
            NDManager m = sd.get(p + "W_Q").getManager();
            float[] wQ = sd.get(p + "W_Q").toFloatArray(); // [head_index, d_model, d_head]
            float[] wK = sd.get(p + "W_K").toFloatArray();
            float[] bQ = sd.get(p + "b_Q").toFloatArray(); // [head_index, d_head]
            float[] bK = sd.get(p + "b_K").toFloatArray();
            float[] newWQ = new float[h * d * e];
            float[] newWK = new float[h * d * e];
            float[] newBQ = new float[h * e];
            float[] newBK = new float[h * e];
            for (int head = 0; head < h; head++) {
                DMatrixRMaj qEff = withBiasRow(wQ, bQ, head, d, e); // [d_model + 1, d_head]
                DMatrixRMaj kEff = withBiasRow(wK, bK, head, d, e); // [d_model + 1, d_head]
                DMatrixRMaj kEffT = CommonOps_DDRM.transpose(kEff, null); // [d_head, d_model + 1]
                Svd svd = factoredSvd(qEff, kEffT);
                // make_even: W_Q_eff = U sqrt(S), W_K_eff = V sqrt(S)
                for (int c = 0; c < e; c++) {
                    double root = Math.sqrt(svd.s[c]);
                    for (int r = 0; r <= d; r++) {
                        float q = (float) (svd.u.get(r, c) * root);
                        float k = (float) (svd.v.get(r, c) * root);
                        if (r < d) {
                            newWQ[(head * d + r) * e + c] = q;
                            newWK[(head * d + r) * e + c] = k;
                        } else {
                            newBQ[head * e + c] = q;
                            newBK[head * e + c] = k;
                        }
                    }
                }
            }
            WeightProcessing.replace(sd, p + "W_Q", m.create(newWQ, new Shape(h, d, e))); // [head_index, d_model, d_head]
            WeightProcessing.replace(sd, p + "W_K", m.create(newWK, new Shape(h, d, e)));
            WeightProcessing.replace(sd, p + "b_Q", m.create(newBQ, new Shape(h, e))); // [head_index, d_head]
            WeightProcessing.replace(sd, p + "b_K", m.create(newBK, new Shape(h, e)));

            // OV: b_V goes into b_O first (exact: each pattern row sums to 1), then W_V W_O = U S V^T.
            NDArray bV = sd.get(p + "b_V"); // [head_index, d_head]
            NDArray wOArr = sd.get(p + "W_O"); // [head_index, d_head, d_model]
            WeightProcessing.replace(sd, p + "b_O", sd.get(p + "b_O")
                    .add(bV.expandDims(-1).mul(wOArr).sum(new int[] {0, 1}))); // [d_model]
            WeightProcessing.replace(sd, p + "b_V", bV.zerosLike());
            float[] wV = sd.get(p + "W_V").toFloatArray(); // [head_index, d_model, d_head]
            float[] wO = sd.get(p + "W_O").toFloatArray(); // [head_index, d_head, d_model]
            float[] newWV = new float[h * d * e];
            float[] newWO = new float[h * e * d];
            for (int head = 0; head < h; head++) {
                DMatrixRMaj v = block(wV, head, d, e); // [d_model, d_head]
                DMatrixRMaj o = block(wO, head, e, d); // [d_head, d_model]
                Svd svd = factoredSvd(v, o);
                for (int c = 0; c < e; c++) {
                    for (int r = 0; r < d; r++) {
                        newWV[(head * d + r) * e + c] = (float) (svd.u.get(r, c) * svd.s[c]); // U diag(S)
                        newWO[(head * e + c) * d + r] = (float) svd.v.get(r, c); // V^T
                    }
                }
            }
            WeightProcessing.replace(sd, p + "W_V", m.create(newWV, new Shape(h, d, e)));
            WeightProcessing.replace(sd, p + "W_O", m.create(newWO, new Shape(h, e, d)));
        }
    }

    /** Head {@code head}'s [d_model, d_head] matrix with its bias appended as a last row. */
    private static DMatrixRMaj withBiasRow(float[] w, float[] b, int head, int d, int e) {
        DMatrixRMaj out = new DMatrixRMaj(d + 1, e);
        for (int r = 0; r < d; r++) {
            for (int c = 0; c < e; c++) {
                out.set(r, c, w[(head * d + r) * e + c]);
            }
        }
        for (int c = 0; c < e; c++) {
            out.set(d, c, b[head * e + c]);
        }
        return out;
    }

    private static DMatrixRMaj block(float[] w, int head, int rows, int cols) {
        DMatrixRMaj out = new DMatrixRMaj(rows, cols);
        int base = head * rows * cols;
        for (int i = 0; i < rows * cols; i++) {
            out.data[i] = w[base + i];
        }
        return out;
    }

    /** SVD of A B from thin SVDs of A [m, k] and B [k, n] and of the k x k middle, as TL's FactoredMatrix. */
    private static Svd factoredSvd(DMatrixRMaj a, DMatrixRMaj b) {
        Svd sa = thinSvd(a); // A = Ua diag(Sa) Va^T
        Svd sb = thinSvd(b); // B = Ub diag(Sb) Vb^T
        int k = sa.s.length;
        // middle = diag(Sa) Va^T Ub diag(Sb)
        DMatrixRMaj vaTub = new DMatrixRMaj(k, sb.s.length);
        CommonOps_DDRM.multTransA(sa.v, sb.u, vaTub);
        for (int r = 0; r < vaTub.numRows; r++) {
            for (int c = 0; c < vaTub.numCols; c++) {
                vaTub.set(r, c, sa.s[r] * vaTub.get(r, c) * sb.s[c]);
            }
        }
        Svd sm = thinSvd(vaTub);
        DMatrixRMaj u = new DMatrixRMaj(a.numRows, sm.s.length);
        CommonOps_DDRM.mult(sa.u, sm.u, u);
        DMatrixRMaj v = new DMatrixRMaj(b.numCols, sm.s.length);
        CommonOps_DDRM.mult(sb.v, sm.v, v);
        return new Svd(u, sm.s, v);
    }

    private static Svd thinSvd(DMatrixRMaj m) {
        SingularValueDecomposition_F64<DMatrixRMaj> svd =
                DecompositionFactory_DDRM.svd(m.numRows, m.numCols, true, true, true);
        if (!svd.decompose(m.copy())) {
            throw new IllegalStateException("SVD did not converge for a " + m.numRows + "x" + m.numCols
                    + " attention weight matrix (non-finite weights?)");
        }
        DMatrixRMaj u = svd.getU(null, false);
        DMatrixRMaj w = svd.getW(null);
        DMatrixRMaj v = svd.getV(null, false);
        SingularOps_DDRM.descendingOrder(u, false, w, v, false);
        int k = Math.min(w.numRows, w.numCols);
        double[] s = new double[k];
        for (int i = 0; i < k; i++) {
            s[i] = w.get(i, i);
        }
        return new Svd(u, s, v);
    }
}
