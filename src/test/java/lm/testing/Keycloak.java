package lm.testing;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.io.InputStream;
import java.net.ServerSocket;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.Comparator;
import java.util.Enumeration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

/**
 * A real Keycloak for the OIDC tests: the Maven Central distribution (fetched with Maven into the
 * local repository on first use), started in dev mode on a free port of 127.0.0.1 with a JDK 21+
 * found under /usr/lib/jvm (Keycloak 26 needs it; the build's JDK is 17). One per test JVM, stopped
 * when the JVM exits. Realms, clients and users are made through Keycloak's admin REST API, as a
 * site would make them.
 */
public final class Keycloak {
    public static final String VERSION = "26.7.3";
    private static final Path PROJECT = Path.of(System.getProperty("lm.project.dir", System.getProperty("user.dir"))).toAbsolutePath();
    private static Keycloak instance;

    public final String base;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();

    private Keycloak(String base) {
        this.base = base;
    }

    /** The running Keycloak, started on first call (about 40 s the first time, 10 s after). */
    public static synchronized Keycloak get() throws IOException, InterruptedException {
        if (instance == null) {
            instance = start();
        }
        return instance;
    }

    private static Keycloak start() throws IOException, InterruptedException {
        Path home = unpacked();
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        Path log = home.resolve("keycloak.log");
        ProcessBuilder pb = new ProcessBuilder("sh", home.resolve("bin/kc.sh").toString(), "start-dev",
                "--http-host=127.0.0.1", "--http-port=" + port,
                // a second port of its own, picked by the OS, else two test runs would collide on 9000
                "--http-management-port=" + freePort(), "--cache=local",
                // a fresh realm set every run: nothing kept in target/ between test runs
                "--db=dev-mem");
        pb.environment().put("JAVA_HOME", jdk21().toString());
        pb.environment().put("KC_BOOTSTRAP_ADMIN_USERNAME", "admin");
        pb.environment().put("KC_BOOTSTRAP_ADMIN_PASSWORD", "admin");
        // small heap: the machines have 2 cores and other tests run beside it
        pb.environment().put("JAVA_OPTS_KC_HEAP", "-Xms64m -Xmx512m");
        pb.redirectErrorStream(true).redirectOutput(log.toFile());
        Process p = pb.start();
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            p.descendants().forEach(ProcessHandle::destroy);
            p.destroy();
        }));
        Keycloak kc = new Keycloak("http://127.0.0.1:" + port);
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(420);
        while (true) {
            if (!p.isAlive()) {
                throw new IllegalStateException("Keycloak exited with " + p.exitValue() + "; its log: " + tail(log));
            }
            try {
                if (kc.get("/realms/master/.well-known/openid-configuration", null).statusCode() == 200) {
                    return kc;
                }
            } catch (IOException e) {
                // not listening yet
            }
            if (System.nanoTime() > until) {
                p.destroy();
                throw new IllegalStateException("Keycloak not ready after 420 s; its log: " + tail(log));
            }
            Thread.sleep(500);
        }
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    private static String tail(Path log) throws IOException {
        List<String> lines = Files.readAllLines(log);
        return String.join("\n", lines.subList(Math.max(0, lines.size() - 30), lines.size()));
    }

    /** A JDK 21 or newer: the machines ship Temurin's beside the default 17 under /usr/lib/jvm. */
    static Path jdk21() throws IOException, InterruptedException {
        Path jvms = Path.of("/usr/lib/jvm");
        if (Files.isDirectory(jvms)) {
            try (Stream<Path> s = Files.list(jvms)) {
                for (Path j : s.sorted(Comparator.reverseOrder()).toList()) {
                    if (Files.isExecutable(j.resolve("bin/java")) && major(j) >= 21) {
                        return j;
                    }
                }
            }
        }
        throw new IllegalStateException("Keycloak " + VERSION + " needs a JDK 21 or newer and none is under /usr/lib/jvm"
                + " (install one, e.g. Temurin 25, or Debian's openjdk-21-jdk-headless where the release has it)");
    }

    private static int major(Path jdk) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(jdk.resolve("bin/java").toString(), "-version").redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        p.waitFor();
        Matcher m = Pattern.compile("version \"(\\d+)").matcher(out);
        return m.find() ? Integer.parseInt(m.group(1)) : 0;
    }

    /** target/keycloak-VERSION, unpacked from the dist zip in the local Maven repository. */
    private static Path unpacked() throws IOException, InterruptedException {
        Path home = PROJECT.resolve("target/keycloak-" + VERSION);
        if (Files.isRegularFile(home.resolve("bin/kc.sh"))) {
            return home;
        }
        Path zip = Path.of(System.getProperty("user.home"), ".m2/repository/org/keycloak/keycloak-quarkus-dist", VERSION,
                "keycloak-quarkus-dist-" + VERSION + ".zip");
        if (!Files.isRegularFile(zip)) {
            // -Dtransitive=false: the zip's own pom names a repository this network doesn't reach
            Process p = new ProcessBuilder("mvn", "-B", "-q", "dependency:get",
                    "-Dartifact=org.keycloak:keycloak-quarkus-dist:" + VERSION + ":zip", "-Dtransitive=false")
                    .redirectErrorStream(true).redirectOutput(PROJECT.resolve("target/keycloak-fetch.log").toFile()).start();
            if (!p.waitFor(10, TimeUnit.MINUTES) || p.exitValue() != 0 || !Files.isRegularFile(zip)) {
                throw new IllegalStateException("could not fetch Keycloak " + VERSION + ", see target/keycloak-fetch.log");
            }
        }
        Path tmp = Files.createTempDirectory(PROJECT.resolve("target"), "keycloak-unpack");
        try (ZipFile z = new ZipFile(zip.toFile())) {
            Enumeration<? extends ZipEntry> entries = z.entries();
            while (entries.hasMoreElements()) {
                ZipEntry e = entries.nextElement();
                // entries are keycloak-VERSION/...: strip that first directory
                String name = e.getName().substring(e.getName().indexOf('/') + 1);
                Path out = tmp.resolve(name).normalize();
                if (name.isEmpty() || !out.startsWith(tmp)) {
                    continue;
                }
                if (e.isDirectory()) {
                    Files.createDirectories(out);
                } else {
                    Files.createDirectories(out.getParent());
                    try (InputStream in = z.getInputStream(e)) {
                        Files.copy(in, out);
                    }
                    if (name.endsWith(".sh")) {
                        Files.setPosixFilePermissions(out, PosixFilePermissions.fromString("rwxr-xr-x"));
                    }
                }
            }
        }
        Files.move(tmp, home);
        return home;
    }

    // ------------------------------------------------------------------ admin API --

    private HttpResponse<String> get(String path, String token) throws IOException, InterruptedException {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofSeconds(30)).GET();
        if (token != null) {
            b.header("Authorization", "Bearer " + token);
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    private HttpResponse<String> postJson(String path, String token, String json) throws IOException, InterruptedException {
        return http.send(HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofSeconds(30))
                .header("Authorization", "Bearer " + token).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(json)).build(), HttpResponse.BodyHandlers.ofString());
    }

    /** POSTs a form; returns the JSON answer (token endpoints). */
    public JsonObject postForm(String url, Map<String, String> form) throws IOException, InterruptedException {
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(30))
                .header("Content-Type", "application/x-www-form-urlencoded")
                .POST(HttpRequest.BodyPublishers.ofString(form(form))).build(), HttpResponse.BodyHandlers.ofString());
        return JsonParser.parseString(r.body()).getAsJsonObject();
    }

    private static String form(Map<String, String> form) {
        return form.entrySet().stream()
                .map(e -> URLEncoder.encode(e.getKey(), StandardCharsets.UTF_8) + "=" + URLEncoder.encode(e.getValue(), StandardCharsets.UTF_8))
                .collect(Collectors.joining("&"));
    }

    private String adminToken() throws IOException, InterruptedException {
        return postForm(base + "/realms/master/protocol/openid-connect/token",
                Map.of("grant_type", "password", "client_id", "admin-cli", "username", "admin", "password", "admin"))
                .get("access_token").getAsString();
    }

    private void created(HttpResponse<String> r, String what) {
        if (r.statusCode() != 201 && r.statusCode() != 204) {
            throw new IllegalStateException("Keycloak: creating " + what + " answered " + r.statusCode() + " " + r.body());
        }
    }

    /** A new realm; returns its issuer URL. */
    public String realm(String name) throws IOException, InterruptedException {
        created(postJson("/admin/realms", adminToken(), "{\"realm\":\"" + name + "\",\"enabled\":true}"), "realm " + name);
        return base + "/realms/" + name;
    }

    /** A protocol mapper that puts a fixed permissions claim (a JSON array) into access tokens. */
    public static JsonObject permissionsMapper(String... permissions) {
        JsonArray values = new JsonArray();
        for (String p : permissions) {
            values.add(p);
        }
        return mapper("permissions", "oidc-hardcoded-claim-mapper", Map.of(
                "claim.name", "permissions", "claim.value", values.toString(),
                // without it the claim is the string "[...]", not an array
                "jsonType.label", "JSON", "access.token.claim", "true", "id.token.claim", "false", "userinfo.token.claim", "false"));
    }

    /** A protocol mapper that adds {@code audience} to the access token's aud. */
    public static JsonObject audienceMapper(String audience) {
        return mapper("audience", "oidc-audience-mapper", Map.of(
                "included.custom.audience", audience, "access.token.claim", "true", "id.token.claim", "false"));
    }

    private static JsonObject mapper(String name, String type, Map<String, String> config) {
        JsonObject m = new JsonObject();
        m.addProperty("name", name);
        m.addProperty("protocol", "openid-connect");
        m.addProperty("protocolMapper", type);
        JsonObject c = new JsonObject();
        config.forEach(c::addProperty);
        m.add("config", c);
        return m;
    }

    /** A confidential client with a service account (client credentials); returns its secret. */
    public String serviceClient(String realm, String clientId, JsonObject... mappers) throws IOException, InterruptedException {
        String secret = "secret-" + clientId;
        client(realm, clientId, Map.of("publicClient", false, "serviceAccountsEnabled", true, "secret", secret), mappers);
        return secret;
    }

    /** A public client allowed the device grant (RFC 8628), as lm-cli login uses. */
    public void deviceClient(String realm, String clientId, JsonObject... mappers) throws IOException, InterruptedException {
        JsonObject attrs = new JsonObject();
        attrs.addProperty("oauth2.device.authorization.grant.enabled", "true");
        client(realm, clientId, Map.of("publicClient", true, "attributes", attrs), mappers);
    }

    /**
     * A public client for a browser page: the authorization code flow with PKCE (S256), back to
     * {@code redirectUri} (a pattern, e.g. http://host/lm/ui/*), its token endpoint open to the
     * page's origin (CORS).
     */
    public void browserClient(String realm, String clientId, String redirectUri, JsonObject... mappers)
            throws IOException, InterruptedException {
        JsonObject attrs = new JsonObject();
        attrs.addProperty("pkce.code.challenge.method", "S256");
        client(realm, clientId, Map.of("publicClient", true, "standardFlowEnabled", true, "redirectUris", List.of(redirectUri),
                "webOrigins", List.of("+"), "attributes", attrs), mappers);
    }

    private void client(String realm, String clientId, Map<String, Object> settings, JsonObject... mappers)
            throws IOException, InterruptedException {
        JsonObject c = new JsonObject();
        c.addProperty("clientId", clientId);
        c.addProperty("standardFlowEnabled", false);
        c.addProperty("directAccessGrantsEnabled", false);
        settings.forEach((k, v) -> c.add(k, lm.http.Json.GSON.toJsonTree(v)));
        c.add("protocolMappers", array(mappers));
        created(postJson("/admin/realms/" + realm + "/clients", adminToken(), c.toString()), "client " + clientId);
    }

    public void user(String realm, String username, String password) throws IOException, InterruptedException {
        JsonObject u = new JsonObject();
        u.addProperty("username", username);
        u.addProperty("enabled", true);
        u.addProperty("email", username + "@example.org");
        u.addProperty("emailVerified", true);
        u.addProperty("firstName", username);
        u.addProperty("lastName", "Tester");
        JsonObject cred = new JsonObject();
        cred.addProperty("type", "password");
        cred.addProperty("value", password);
        cred.addProperty("temporary", false);
        JsonArray creds = new JsonArray();
        creds.add(cred);
        u.add("credentials", creds);
        created(postJson("/admin/realms/" + realm + "/users", adminToken(), u.toString()), "user " + username);
    }

    private static JsonArray array(JsonObject... items) {
        JsonArray a = new JsonArray();
        for (JsonObject o : items) {
            a.add(o);
        }
        return a;
    }

    /**
     * Approves a device code as a person would in a browser: opens {@code verificationUriComplete},
     * logs in on Keycloak's form, and accepts the consent page.
     */
    public void approveDevice(String verificationUriComplete, String username, String password) throws IOException, InterruptedException {
        Browser browser = new Browser();
        HttpResponse<String> page = browser.go(HttpRequest.newBuilder(URI.create(verificationUriComplete)).GET());
        page = submit(browser, page, Map.of("username", username, "password", password));
        // the consent page: "Do you grant these access privileges?"
        Matcher code = Pattern.compile("name=\"code\"[^>]*value=\"([^\"]+)\"").matcher(page.body());
        if (code.find()) {
            page = submit(browser, page, Map.of("code", code.group(1), "accept", "Yes"));
        }
        if (page.statusCode() >= 500) {
            throw new IllegalStateException("Keycloak device approval ended with " + page.statusCode() + ": " + page.body());
        }
    }

    private HttpResponse<String> submit(Browser browser, HttpResponse<String> page, Map<String, String> fields)
            throws IOException, InterruptedException {
        Matcher m = Pattern.compile("<form[^>]*action=\"([^\"]+)\"").matcher(page.body());
        if (!m.find()) {
            throw new IllegalStateException("Keycloak page without a form (" + page.statusCode() + "): " + page.body());
        }
        URI action = page.uri().resolve(m.group(1).replace("&amp;", "&"));
        return browser.go(HttpRequest.newBuilder(action).header("Content-Type", "application/x-www-form-urlencoded")
                .POST(HttpRequest.BodyPublishers.ofString(form(fields))));
    }

    /**
     * Just enough of a browser: follows redirects and keeps cookies itself. Java's CookieManager
     * withholds Keycloak's Secure cookies over http, where a browser sends them to 127.0.0.1.
     */
    private static final class Browser {
        private final HttpClient client = HttpClient.newBuilder().followRedirects(HttpClient.Redirect.NEVER)
                .connectTimeout(Duration.ofSeconds(10)).build();
        private final Map<String, String> cookies = new java.util.LinkedHashMap<>();

        HttpResponse<String> go(HttpRequest.Builder request) throws IOException, InterruptedException {
            for (int hops = 0; hops < 10; hops++) {
                if (!cookies.isEmpty()) {
                    request.header("Cookie", cookies.entrySet().stream().map(e -> e.getKey() + "=" + e.getValue())
                            .collect(Collectors.joining("; ")));
                }
                HttpResponse<String> r = client.send(request.timeout(Duration.ofSeconds(30)).build(), HttpResponse.BodyHandlers.ofString());
                for (String c : r.headers().allValues("Set-Cookie")) {
                    String pair = c.split(";", 2)[0];
                    int eq = pair.indexOf('=');
                    if (eq > 0) {
                        cookies.put(pair.substring(0, eq).strip(), pair.substring(eq + 1).strip());
                    }
                }
                String location = r.headers().firstValue("Location").orElse(null);
                if (r.statusCode() / 100 != 3 || location == null) {
                    return r;
                }
                request = HttpRequest.newBuilder(r.uri().resolve(location)).GET();
            }
            throw new IllegalStateException("Keycloak: more than 10 redirects");
        }
    }

    /** A client-credentials token of a service client. */
    public String clientToken(String issuer, String clientId, String secret) throws IOException, InterruptedException {
        JsonElement t = postForm(issuer + "/protocol/openid-connect/token",
                Map.of("grant_type", "client_credentials", "client_id", clientId, "client_secret", secret)).get("access_token");
        if (t == null) {
            throw new IllegalStateException("Keycloak gave no token to " + clientId);
        }
        return t.getAsString();
    }
}
