package ioi.lens;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * Native memory stays flat across repeated runs: 200 consecutive {@code runWithCache} calls (and
 * 200 forwards) leave the model's managers with the same number of live arrays, and the process
 * RSS grows by less than 64 MiB (one leaked cache of this batch is about 3 MiB, so a leak of even
 * a small part of each cache would exceed it).
 */
class MemoryTest {

    static long rssKiB() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", ""));
            }
        }
        throw new IllegalStateException("no VmRSS in /proc/self/status");
    }

    @Test
    void repeatedRunWithCacheLeavesArraysAndRssFlat() throws IOException {
        try (HookedTransformer model = HookedTransformer.load(TestModels.tinyGpt2(), ProcessingOptions.defaults(), null);
                NDManager m = NDManager.newBaseManager()) {
            long[][] ids = new long[8][64];
            for (int b = 0; b < 8; b++) {
                for (int p = 0; p < 64; p++) {
                    ids[b][p] = (b * 7919L + p * 104729L) % 50257;
                }
            }
            NDArray tokens = m.create(ids); // [batch, pos]
            for (int i = 0; i < 20; i++) { // warm-up: allocator pools, JIT
                try (ActivationCache c = model.runWithCache(tokens)) {
                    c.get("pattern", 0);
                }
            }
            System.gc();
            int arraysBefore = model.liveArrayCount();
            int userArraysBefore = m.getManagedArrays().size();
            long rssBefore = rssKiB();
            for (int i = 0; i < 200; i++) {
                try (ActivationCache c = model.runWithCache(tokens)) {
                    c.stackHeadResults(null, false, true); // the decompositions own their arrays too
                }
                model.forward(tokens).close();
            }
            System.gc();
            long rssAfter = rssKiB();
            try (ActivationCache open = model.runWithCache(tokens)) {
                assertTrue(model.liveArrayCount() >= arraysBefore + open.size(),
                        "the accounting sees an open cache's arrays (else it could not see a leak)");
            }
            System.out.printf("live arrays %d -> %d; RSS %d MiB -> %d MiB (+%d KiB)%n", arraysBefore,
                    model.liveArrayCount(), rssBefore / 1024, rssAfter / 1024, rssAfter - rssBefore);
            assertEquals(arraysBefore, model.liveArrayCount(), "arrays left in the model's managers");
            assertEquals(0, model.openCacheCount(), "caches left open");
            assertEquals(userArraysBefore, m.getManagedArrays().size(), "arrays left in the caller's manager");
            assertTrue(rssAfter - rssBefore < 64 * 1024, "RSS grew by " + (rssAfter - rssBefore) + " KiB over 200 runs");
        }
    }

    @Test
    void runWithCacheOfJavaTokensOwnsEverythingItMade() {
        try (HookedTransformer model = HookedTransformer.load(TestModels.tinyGpt2(), ProcessingOptions.defaults(), null);
                NDManager m = NDManager.newBaseManager()) {
            long[][] ids = {{1, 2, 3, 4}, {5, 6, 7, 8}};
            int before = model.liveArrayCount();
            for (int i = 0; i < 5; i++) {
                try (ActivationCache javaTokens = model.runWithCache(ids);
                        ActivationCache ndTokens = model.runWithCache(m.create(ids))) {
                    assertEquals(0, javaTokens.logits().sub(ndTokens.logits()).abs().max().getFloat(),
                            "the same pass: logits equal exactly");
                }
            }
            assertEquals(before, model.liveArrayCount(), "closing the cache freed all it made, its input too");
        }
    }
}
