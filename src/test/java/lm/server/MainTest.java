package lm.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import lm.auth.AuthSettings;
import lm.auth.Authenticator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** lm-server's command line: configuration errors exit 78 naming the key; `token` mints a usable token. */
class MainTest {
    @TempDir
    Path dir;

    record Run(int code, String out, String err) {}

    Run run(String... args) {
        CommandLine cl = Main.commandLine();
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        cl.setOut(new PrintWriter(out));
        cl.setErr(new PrintWriter(err));
        int code = cl.execute(args);
        return new Run(code, out.toString(), err.toString());
    }

    @Test
    void badConfigurationExits78NamingTheKey() throws Exception {
        Path conf = dir.resolve("lm.conf");
        Files.writeString(conf, "http_port = -3\n");
        Run r = run("--config", conf.toString());
        assertEquals(78, r.code(), r.err());
        assertTrue(r.err().contains("http_port"), r.err());
    }

    @Test
    void tokenIsSignedWithTheConfiguredKeys() throws Exception {
        Path conf = dir.resolve("lm.conf");
        Files.writeString(conf, "state_dir = " + dir + "\n");
        Run r = run("--config", conf.toString(), "token", "--client-id", "cluster7", "--permission", "license-manager:job:create", "--ttl", "5m");
        assertEquals(0, r.code(), r.err());
        // the server, started later on the same state_dir, accepts it
        Authenticator auth = new Authenticator(new AuthSettings(dir.resolve("jwks.json"), "lm-local", null, "permissions"));
        var p = auth.authenticate("Bearer " + r.out().strip());
        assertEquals("cluster7", p.clientId());
        assertTrue(p.can("job", "create"));
        assertTrue(!p.can("job", "delete"));
    }

    @Test
    void helpAndVersion() {
        Run help = run("--help");
        assertEquals(0, help.code());
        assertTrue(help.out().contains("--config") && help.out().contains("token"), help.out());
        Run version = run("--version");
        assertTrue(version.out().startsWith("lm-server "), version.out());
    }
}
