package lm.agent;

/** scontrol or squeue failed: Slurm could not be read, or a change was not applied. */
final class SlurmException extends Exception {
    SlurmException(String message) {
        super(message);
    }
}
