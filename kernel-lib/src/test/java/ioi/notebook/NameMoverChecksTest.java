package ioi.notebook;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ioi.experiments.Head;
import ioi.experiments.IoiBatch;
import ioi.lens.ActivationCache;
import ioi.lens.HookedTransformer;
import org.junit.jupiter.api.Test;

/**
 * {@link NameMoverChecks}: the solution passes, the stub is not implemented, the mistakes are named.
 */
class NameMoverChecksTest extends CheckFixture {

    static NDArray embeddingVsAttn(HookedTransformer model, ActivationCache cache, IoiBatch batch, int layer, int head,
            long[] sPositions) {
        NDManager mm = cache.get("z", layer).getManager();
        int n = batch.size();
        NDArray rows = Check.rows(mm, n); // [batch]
        NDArray end = mm.create(batch.end()); // [batch]
        NDArray z = cache.get("z", layer).get(new NDIndex(":, :, {}", head)); // [batch, pos, d_head]
        NDArray output = z.matMul(model.W_O().get(new NDIndex("{}, {}", layer, head))); // [batch, pos, d_model]
        NDArray outputEnd = output.get(new NDIndex("{}, {}", rows, end)); // [batch, d_model]
        NDArray wUt = model.W_U().transpose(); // [d_vocab, d_model]
        NDArray ioUnembed = wUt.get(new NDIndex("{}", mm.create(batch.ioTokenIds()))); // [batch, d_model]
        NDArray sUnembed = wUt.get(new NDIndex("{}", mm.create(batch.sTokenIds()))); // [batch, d_model]
        NDArray projIo = outputEnd.mul(ioUnembed).sum(new int[] {-1}); // [batch]
        NDArray projS = outputEnd.mul(sUnembed).sum(new int[] {-1}); // [batch]
        NDArray pattern = cache.get("pattern", layer).get(new NDIndex(":, {}", head)); // [batch, query_pos, key_pos]
        NDArray attnIo = pattern.get(new NDIndex("{}, {}, {}", rows, end, mm.create(batch.io()))); // [batch]
        NDArray attnS = pattern.get(new NDIndex("{}, {}, {}", rows, end, mm.create(sPositions))); // [batch]
        return NDArrays.stack(new NDList(attnIo, attnS, projIo, projS)); // [4, batch]
    }

    @Test
    void writingDirection() {
        Head[] heads = {new Head(9, 9), new Head(11, 10)};
        passes(NameMoverChecks.embeddingVsAttn(model, cache, batch, (mo, c, b, l, h) -> embeddingVsAttn(mo, c, b, l, h, b.s1()), heads));
        stub(NameMoverChecks.embeddingVsAttn(model, cache, batch, (mo, c, b, l, h) -> {
            throw Check.todo();
        }, heads));
        fails(NameMoverChecks.embeddingVsAttn(model, cache, batch, (mo, c, b, l, h) -> embeddingVsAttn(mo, c, b, l, h, b.s2()), heads),
                "S2 instead of S1", "differs at [1,");
        fails(NameMoverChecks.embeddingVsAttn(model, cache, batch,
                (mo, c, b, l, h) -> embeddingVsAttn(mo, c, b, l, h, b.s1()).get("0:3"), heads), "has shape (3, 8)");
    }
}
