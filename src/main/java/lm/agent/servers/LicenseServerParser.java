package lm.agent.servers;

/** Turns the text a license server's status tool printed into a report. Pure: no I/O. */
public interface LicenseServerParser {
    /**
     * @return at least one feature
     * @throws BadServerOutputException when the output is an error, a crash, or holds no feature
     */
    ServerReport parse(String output) throws BadServerOutputException;
}
