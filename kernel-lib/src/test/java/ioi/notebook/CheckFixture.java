package ioi.notebook;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import ioi.data.IOIDataset;
import ioi.experiments.IoiBatch;
import ioi.lens.ActivationCache;
import ioi.lens.HookedTransformer;
import ioi.lens.ProcessingOptions;
import ioi.lens.TestModels;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/**
 * What every exercise-check test shares: the model, the IOI and ABC prompts, a cache of the clean run,
 * and the three verdict assertions. The tests that extend it show that the exercise checks catch wrong answers, not only stubs: for each check, the solution (the same
 * code as the notebooks' solution cells) passes, the stub reports "not implemented yet", and at
 * least one plausible mistake fails with a message that names what differs. On the experiments'
 * 12 x 12 random checkpoint (the paper's head indices exist; the numbers mean nothing).
 */
abstract class CheckFixture {

    static HookedTransformer model;
    static NDManager m;
    static IOIDataset ioiDataset;
    static IOIDataset abcDataset;
    static IoiBatch batch;
    static ActivationCache cache;

    @BeforeAll
    static void load() {
        model = HookedTransformer.load(TestModels.ioiGpt2(), ProcessingOptions.withRefactoring(), null);
        m = model.resultManager().newSubManager();
        ioiDataset = IOIDataset.builder(model.tokenizer()).promptType("mixed").n(8).seed(1).prependBos(false).build();
        abcDataset = ioiDataset.genFlippedPrompts(Paper.ABC_FLIP);
        batch = Paper.batch(ioiDataset, abcDataset);
        cache = model.runWithCache(batch.tokens(m));
    }

    @AfterAll
    static void close() {
        cache.close();
        m.close();
        model.close();
    }

    static void passes(Check.Result r) {
        assertEquals(Check.Status.PASSED, r.status(), r.line());
        assertEquals("check " + r.exercise() + ": passed", r.line());
    }

    static void stub(Check.Result r) {
        assertEquals(Check.Status.NOT_IMPLEMENTED, r.status(), r.line());
        assertTrue(r.line().startsWith("check " + r.exercise() + ": not implemented yet"), r.line());
    }

    /** A failure whose line contains every one of {@code words}. */
    static void fails(Check.Result r, String... words) {
        assertEquals(Check.Status.FAILED, r.status(), r.line());
        for (String w : words) {
            assertTrue(r.line().contains(w), "expected '" + w + "' in: " + r.line());
        }
        System.out.println(r.line());
    }
}
