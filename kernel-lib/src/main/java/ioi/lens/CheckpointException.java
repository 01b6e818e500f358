package ioi.lens;

/**
 * A checkpoint (config, weights or tokenizer) could not be found, downloaded or read. The message
 * names the file or tensor, what was expected and what was found, and what the user can do.
 */
public class CheckpointException extends RuntimeException {
    public CheckpointException(String message) {
        super(message);
    }

    public CheckpointException(String message, Throwable cause) {
        super(message, cause);
    }
}
