package lm.cli;

import java.nio.file.Path;
import java.util.Map;

/**
 * XDG base directories. HOME is read from the environment, not from Java's user.home (which
 * comes from the password database), so that HOME=/tmp/x lm-cli … behaves like any other tool.
 */
final class Dirs {
    private Dirs() {}

    static Path home(Map<String, String> env) {
        String h = env.get("HOME");
        return Path.of(h == null || h.isEmpty() ? System.getProperty("user.home") : h);
    }

    static Path configHome(Map<String, String> env) {
        return xdg(env, "XDG_CONFIG_HOME", ".config");
    }

    static Path dataHome(Map<String, String> env) {
        return xdg(env, "XDG_DATA_HOME", ".local/share");
    }

    private static Path xdg(Map<String, String> env, String var, String fallback) {
        String v = env.get(var);
        // the XDG spec: a relative path is invalid and must be ignored
        if (v != null && !v.isEmpty() && Path.of(v).isAbsolute()) {
            return Path.of(v);
        }
        return home(env).resolve(fallback);
    }
}
