package ioi.lens.hub;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Environment variables are read the way Python's huggingface_hub reads them. */
class HubConfigTest {

    @Test
    void defaults() {
        HubConfig c = HubConfig.fromEnvironment(Map.of());
        assertEquals("https://huggingface.co", c.endpoint());
        assertEquals(Path.of(System.getProperty("user.home"), ".cache", "huggingface", "hub"), c.cacheDir());
        assertFalse(c.offline());
        assertNull(c.token());
    }

    @Test
    void homeIsReadFromHomeFirstAsPythonDoes() {
        // os.path.expanduser("~") reads HOME; Java's user.home (the password database) may differ.
        assertEquals(Path.of("/tmp/elsewhere/.cache/huggingface/hub"),
                HubConfig.fromEnvironment(Map.of("HOME", "/tmp/elsewhere")).cacheDir());
        assertEquals(Path.of("/tmp/elsewhere/models"),
                HubConfig.fromEnvironment(Map.of("HOME", "/tmp/elsewhere", "HF_HUB_CACHE", "~/models")).cacheDir());
    }

    @Test
    void cacheDirectoryPrecedence() {
        assertEquals(Path.of("/h/hub"), HubConfig.fromEnvironment(Map.of("HF_HOME", "/h")).cacheDir());
        assertEquals(Path.of("/c"), HubConfig.fromEnvironment(Map.of("HF_HOME", "/h", "HF_HUB_CACHE", "/c")).cacheDir());
        assertEquals(Path.of("/x/huggingface/hub"), HubConfig.fromEnvironment(Map.of("XDG_CACHE_HOME", "/x")).cacheDir());
    }

    @Test
    void offlineFlagEndpointAndToken() {
        for (String on : new String[] {"1", "true", "YES", "on"}) {
            assertTrue(HubConfig.fromEnvironment(Map.of("HF_HUB_OFFLINE", on)).offline(), on);
        }
        assertFalse(HubConfig.fromEnvironment(Map.of("HF_HUB_OFFLINE", "0")).offline());
        HubConfig c = HubConfig.fromEnvironment(Map.of("HF_ENDPOINT", "http://mirror.local/", "HF_TOKEN", "hf_secret"));
        assertEquals("http://mirror.local", c.endpoint());
        assertEquals("hf_secret", c.token());
        assertFalse(c.toString().contains("hf_secret"));
    }
}
