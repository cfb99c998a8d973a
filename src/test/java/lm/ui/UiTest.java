package lm.ui;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.Statement;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import lm.auth.Roles;
import lm.server.ApiRoutes;
import lm.testing.Chrome;
import lm.testing.TestApi;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.openqa.selenium.By;
import org.openqa.selenium.WebElement;

/** The dashboard and the API docs in a real browser (headless chromium), on a known data set. */
class UiTest {
    @RegisterExtension
    static final TestApi api = new TestApi();
    private static Chrome chrome;
    private static String base;
    private static long mechPool;
    private static final int DENIALS = 30;

    @BeforeAll
    static void setUp() throws Exception {
        base = "http://127.0.0.1:" + api.port() + "/lm";
        try (Connection c = api.ds.getConnection(); Statement st = c.createStatement()) {
            st.execute("INSERT INTO lm.cluster_statuses (cluster_client_id, interval, last_reported) VALUES"
                    + " ('alpha', 60, now() - interval '30 seconds'), ('beta', 300, now() - interval '2 hours')");
            // three pools: one shared by alpha and beta with 12,500 licenses, one overdrawn by use
            // outside the clusters, one whose license server was never read (held)
            st.execute("INSERT INTO lm.products (name) VALUES ('ansys'), ('abaqus'), ('comsol')");
            st.execute("INSERT INTO lm.configurations (name, cluster_client_id, grace_time, type) VALUES"
                    + " ('alpha-lic', 'alpha', 600, 'flexlm'), ('beta-lic', 'beta', 600, 'flexlm')");
            st.execute("INSERT INTO lm.license_servers (config_id, host, port) SELECT id, 'lic1.example.org', 27000 FROM lm.configurations");
            st.execute("INSERT INTO lm.features (name, product_id, config_id, total, used, reserved, reported_at)"
                    + " SELECT 'mech', p.id, c.id, 12500, 3200, 100, now() FROM lm.products p, lm.configurations c WHERE p.name = 'ansys'");
            st.execute("INSERT INTO lm.features (name, product_id, config_id, total, used, reported_at)"
                    + " SELECT 'cae', p.id, c.id, 10, 13, now() FROM lm.products p, lm.configurations c WHERE p.name = 'abaqus' AND c.name = 'alpha-lic'");
            st.execute("INSERT INTO lm.features (name, product_id, config_id)"
                    + " SELECT 'cfd', p.id, c.id FROM lm.products p, lm.configurations c WHERE p.name = 'comsol' AND c.name = 'beta-lic'");
            st.execute("INSERT INTO lm.jobs (slurm_job_id, cluster_client_id, username, lead_host) VALUES ('7', 'alpha', 'ana', 'n01')");
            st.execute("INSERT INTO lm.bookings (job_id, feature_id, quantity, expires_at) SELECT j.id, f.id, 1200, now() + interval '1 hour'"
                    + " FROM lm.jobs j, lm.features f JOIN lm.configurations c ON c.id = f.config_id WHERE f.name = 'mech' AND c.name = 'alpha-lic'");
            // ansys.mech's license servers print an expiry ten days ahead (the pools page warns within 14)
            st.execute("UPDATE lm.features SET expires_at = (now() AT TIME ZONE 'UTC')::date + 10, expiring = 500 WHERE name = 'mech'");
            // the history, relative to now like the rest (the page asks for the last 24 h of the
            // browser's clock): 30 days of hourly rollups for ansys.mech (used climbs through each
            // day), who holds it now, 30 denials (ansys.mech and abaqus.cae) and three ended jobs
            mechPool = Long.parseLong(lm.db.Sql.text(api.ds, "SELECT min(pool_id) FROM lm.features WHERE name = 'mech'"));
            st.execute("INSERT INTO lm.usage_rollups (pool_id, hour, product_feature, samples, seconds, total_max, used_avg, used_max,"
                    + " reserved_max, booked_avg, booked_max, external_avg, external_max, demand_avg, demand_max, queued_avg, queued_max,"
                    + " stale_samples, held_samples)"
                    + " SELECT " + mechPool + ", date_trunc('hour', now()) - make_interval(hours => i), 'ansys.mech', 60, 3600, 12500,"
                    + " 2000 + 300 * (i % 24), 2500 + 300 * (i % 24), 100, 800, 1200, 400, 600, 300, 900 + 100 * (i % 5), 0, i % 3, 0, 0"
                    + " FROM generate_series(1, 720) i");
            st.execute("INSERT INTO lm.checkouts (pool_id, username, host, product_feature, cluster_client_id, quantity, matched, slurm_job_ids, seen_at,"
                    + " since) VALUES (" + mechPool + ", 'ana', 'n01', 'ansys.mech', 'alpha', 1000, 1000, '7', now(), now() - interval '3 hours'),"
                    + " (" + mechPool + ", 'bob', 'ws17.example.org', 'ansys.mech', 'beta', 2200, 0, NULL, now(), now())");
            st.execute("INSERT INTO lm.denial_log (cluster_client_id, slurm_job_id, username, account, product_feature, requested, available,"
                    + " reason, first_at, last_at, count)"
                    + " SELECT CASE WHEN i % 2 = 0 THEN 'alpha' ELSE 'beta' END, (1000 + i)::text, 'user' || (i % 5), 'proj' || (i % 3),"
                    + " CASE WHEN i % 3 = 0 THEN 'abaqus.cae' ELSE 'ansys.mech' END, 10 * i, 5 - i, CASE WHEN i % 4 = 0 THEN 'share' ELSE 'pool' END,"
                    + " now() - make_interval(hours => i, mins => 10), now() - make_interval(hours => i), 1 + i % 2"
                    + " FROM generate_series(1, " + DENIALS + ") i");
            st.execute("INSERT INTO lm.ended_jobs (job_id, cluster_client_id, slurm_job_id, username, account, lead_host, bookings, booked_at, released_at, reason)"
                    + " SELECT 100 + i, 'alpha', (500 + i)::text, 'carl', 'proj1', 'n0' || i,"
                    + " jsonb_build_array(jsonb_build_object('product_feature', 'ansys.mech', 'quantity', 100 * i, 'booked_at', now() - interval '1 day',"
                    + "   'expires_at', now() - interval '23 hours', 'released_at', NULL, 'released_reason', NULL, 'offline', false)),"
                    + " now() - make_interval(hours => 24 + i), now() - make_interval(hours => i), (ARRAY['epilog', 'ended', 'requeue'])[i]"
                    + " FROM generate_series(1, 3) i");
            // who used ansys.mech: ana 2 h and bob 1 h in the last hours, ana 10 h more ten days ago
            st.execute("INSERT INTO lm.user_rollups (pool_id, hour, username, product_feature, license_seconds) VALUES"
                    + " (" + mechPool + ", date_trunc('hour', now()) - interval '2 hours', 'ana', 'ansys.mech', 7200),"
                    + " (" + mechPool + ", date_trunc('hour', now()) - interval '3 hours', 'bob', 'ansys.mech', 3600),"
                    + " (" + mechPool + ", date_trunc('hour', now()) - interval '10 days', 'ana', 'ansys.mech', 36000)");
            // whole days are read from the daily rollups, which agent passes make
            st.execute("SELECT lm.roll_up_days(now() - interval '12 days', now(), ARRAY[" + mechPool + "]::bigint[])");
        }
        chrome = new Chrome(1280, 800);
    }

    @AfterAll
    static void tearDown() {
        if (chrome != null) {
            chrome.close();
        }
    }

    private static String reader() {
        return api.token("dashboard", Roles.permissions(Roles.READER).toArray(String[]::new));
    }

    private void open(String token, String page) {
        open(chrome, token, page);
    }

    /**
     * The dashboard's {@code page} in a tab that holds {@code token} (null: none), as a pasted one
     * is held: in the tab's sessionStorage, never in an address (the paste itself:
     * aPastedTokenNeverReachesAnAddressOrTheBrowsersHistory).
     */
    private static void open(Chrome c, String token, String page) {
        // a fresh tab state: no token left from another test
        c.driver.get(base + "/ui/#/login");
        c.script("sessionStorage.clear(); if (arguments[0]) { sessionStorage.setItem('lm.token', arguments[0]); }", token);
        c.consoleErrors();
        // from another page, so that this is a full load and not a change of the fragment
        c.driver.get("about:blank");
        c.driver.get(base + "/ui/#/" + page);
    }

    @Test
    void withoutATokenThePageShowsTheLogin() throws Exception {
        open(null, "clusters");
        WebElement input = chrome.await(By.id("token-input"));
        assertTrue(input.isDisplayed());
        assertTrue(chrome.driver.findElement(By.tagName("main")).getText().contains("Log in to see this page"));
        chrome.screenshot("login");
        assertEquals(List.of(), chrome.consoleErrors(), "no error, no CSP violation");

        // a pasted token leads to the page asked for
        input.sendKeys(reader());
        chrome.driver.findElement(By.id("token-submit")).click();
        chrome.await(By.id("clusters"));
    }

    /**
     * Issue 20, case 8: a token in an address stays in the browser's history database. A person
     * pastes one and uses the dashboard: no address of the tab, no entry of its history, no
     * request it made and nothing in the profile's History file holds the token.
     */
    @Test
    void aPastedTokenNeverReachesAnAddressOrTheBrowsersHistory() throws Exception {
        Path profile = Files.createTempDirectory("lm-chrome-profile");
        String token = reader();
        // the signature: what makes it a token, and in no address by chance
        String secret = token.substring(token.lastIndexOf('.') + 1);
        List<String> addresses = new java.util.ArrayList<>();
        try (Chrome c = new Chrome(1280, 800, profile)) {
            c.driver.get(base + "/ui/#/clusters");
            c.await(By.id("token-input")).sendKeys(token);
            c.driver.findElement(By.id("token-submit")).click();
            c.await(By.id("clusters"));
            addresses.add(c.driver.getCurrentUrl());
            // use it: the pools, a pool's page, the denials' second page
            c.driver.findElement(By.cssSelector("#nav a[data-page=pools]")).click();
            c.await(By.linkText("ansys.mech")).click();
            assertTrue(points(c, "pools/" + mechPool) > 0);
            addresses.add(c.driver.getCurrentUrl());
            c.driver.findElement(By.cssSelector("#nav a[data-page=denials]")).click();
            c.await(By.id("denials-next")).click();
            c.waiting().until(d -> d.findElement(By.id("denials-position")).getText().contains("page 2"));
            addresses.add(c.driver.getCurrentUrl());
            assertEquals(token, c.script("return sessionStorage.getItem('lm.token')"), "the tab holds it");

            // the tab's history, as the browser keeps it (DevTools protocol), and every request the page made
            @SuppressWarnings("unchecked")
            List<Map<String, Object>> entries = (List<Map<String, Object>>) c.driver.executeCdpCommand("Page.getNavigationHistory", Map.of()).get("entries");
            entries.forEach(e -> {
                addresses.add(String.valueOf(e.get("url")));
                addresses.add(String.valueOf(e.get("userTypedURL")));
            });
            assertTrue(entries.size() >= 5, "clusters, pools, a pool, denials, page 2: " + entries);
            @SuppressWarnings("unchecked")
            List<String> requests = (List<String>) c.script("return performance.getEntriesByType('resource').map(function (e) { return e.name; })");
            assertTrue(requests.stream().anyMatch(u -> u.contains("/lm/denials")), "the page asked the API: " + requests);
            addresses.addAll(requests);
        }
        for (String a : addresses) {
            assertFalse(a.contains(secret), "a token in " + a);
        }
        // closed: the profile's History database as written to disk, and every other file of
        // the profile but the tab's own sessionStorage (kept for session restore)
        Path history = profile.resolve("Default/History");
        String visits = new String(Files.readAllBytes(history), StandardCharsets.ISO_8859_1);
        assertTrue(visits.contains(base + "/ui/#/pools/" + mechPool), "the History file holds the visits");
        try (var files = Files.walk(profile)) {
            for (Path f : files.filter(Files::isRegularFile).filter(f -> !profile.relativize(f).toString().contains("Session Storage")).toList()) {
                assertFalse(new String(Files.readAllBytes(f), StandardCharsets.ISO_8859_1).contains(secret), "the token in " + f);
            }
        }
    }

    /**
     * Issue 20, case 8: an address with #token=… from an earlier release does not log in (that
     * address is in the history already); the token leaves the address bar unread, no request
     * carries it, and the page says to paste it instead.
     */
    @Test
    void anOldTokenLinkDoesNotLogIn() throws Exception {
        String token = reader();
        open(null, "login");
        chrome.driver.get("about:blank");
        chrome.driver.get(base + "/ui/#token=" + token + "&page=clusters");
        WebElement input = chrome.await(By.id("token-input"));
        String said = chrome.driver.findElement(By.tagName("main")).getText();
        assertTrue(said.contains("That address held a token") && said.contains("paste the token below"), said);
        assertNull(chrome.script("return sessionStorage.getItem('lm.token')"), "not taken");
        assertEquals(base + "/ui/#/clusters", chrome.driver.getCurrentUrl(), "out of the address bar");
        @SuppressWarnings("unchecked")
        List<Map<String, Object>> entries = (List<Map<String, Object>>) chrome.driver.executeCdpCommand("Page.getNavigationHistory", Map.of()).get("entries");
        // the entry's address was replaced; what was typed stays with the browser (userTypedURL,
        // and its History file): the reason the page takes no token from an address
        assertEquals(base + "/ui/#/clusters", entries.get(entries.size() - 1).get("url"));
        assertTrue(String.valueOf(entries.get(entries.size() - 1).get("userTypedURL")).contains(token), entries.toString());
        @SuppressWarnings("unchecked")
        List<String> requests = (List<String>) chrome.script("return performance.getEntriesByType('resource').map(function (e) { return e.name; })");
        assertTrue(requests.stream().noneMatch(u -> u.startsWith(base + "/") && !u.startsWith(base + "/ui/")), "no API call: " + requests);
        chrome.screenshot("login-token-in-address");
        // pasted, it leads to the page the address named
        input.sendKeys(token);
        chrome.driver.findElement(By.id("token-submit")).click();
        chrome.await(By.id("clusters"));
        assertEquals(base + "/ui/#/clusters", chrome.driver.getCurrentUrl());
    }

    @Test
    void theClustersPageShowsEachAgentAndItsFailingServers() throws Exception {
        open(reader(), "clusters");
        WebElement table = chrome.await(By.id("clusters"));
        List<WebElement> rows = table.findElements(By.cssSelector("tbody tr"));
        assertEquals(2, rows.size());
        assertEquals("alpha", rows.get(0).findElements(By.tagName("td")).get(0).getText());
        assertEquals("ok", rows.get(0).findElements(By.tagName("td")).get(4).getText());
        assertEquals("beta", rows.get(1).findElements(By.tagName("td")).get(0).getText());
        assertEquals("2 h", rows.get(1).findElements(By.tagName("td")).get(2).getText());
        assertEquals("late", rows.get(1).findElements(By.tagName("td")).get(4).getText());
        // beta's configuration has a feature never read (comsol.cfd): its server is failing, alpha's is not
        assertEquals("none", rows.get(0).findElements(By.tagName("td")).get(5).getText());
        assertEquals("lic1.example.org:27000", rows.get(1).findElements(By.tagName("td")).get(5).getText());
        // times in the browser's zone with its offset
        assertTrue(rows.get(0).findElements(By.tagName("td")).get(1).getText().matches(".*UTC[+−]\\d\\d:\\d\\d"),
                rows.get(0).getText());
        // sorting by a header button, from the keyboard's point of view a button like any other
        chrome.driver.findElement(By.cssSelector("#clusters th[data-key=age] button")).click();
        chrome.driver.findElement(By.cssSelector("#clusters th[data-key=age] button")).click();
        assertEquals("descending", chrome.driver.findElement(By.cssSelector("#clusters th[data-key=age]")).getAttribute("aria-sort"));
        assertEquals("beta", table.findElements(By.cssSelector("tbody tr td:first-child")).get(0).getText());
        chrome.screenshot("clusters");
        assertEquals(List.of(), chrome.consoleErrors());
    }

    @Test
    void thePoolsPageShowsEachPoolsNumbers() throws Exception {
        open(reader(), "pools");
        chrome.await(By.cssSelector("#pools tbody tr"));
        java.util.Map<String, List<String>> rows = new java.util.TreeMap<>();
        for (WebElement tr : chrome.driver.findElements(By.cssSelector("#pools tbody tr"))) {
            List<String> cells = tr.findElements(By.tagName("td")).stream().map(WebElement::getText).collect(java.util.stream.Collectors.toList());
            rows.put(cells.get(0), cells);
        }
        assertEquals(java.util.Set.of("ansys.mech", "abaqus.cae", "comsol.cfd"), rows.keySet());
        chrome.screenshot("pools");
        // License, Servers, Clusters, Total, Used, Reserved, Booked, Available, State: thousands separated
        assertEquals(List.of("ansys.mech", "lic1.example.org:27000", "alpha,beta", "12,500", "3,200", "100", "1,200", "8,000", "ok"),
                rows.get("ansys.mech").subList(0, 9));
        assertEquals("-3", rows.get("abaqus.cae").get(7));
        WebElement negative = chrome.driver.findElement(By.xpath("//table[@id='pools']//tr[td[1]='abaqus.cae']/td[8]"));
        assertTrue(negative.getAttribute("class").contains("negative"), "available below 0 is marked");
        assertEquals("rgba(179, 38, 30, 1)", negative.getCssValue("color"), "and red");
        assertEquals("held", rows.get("comsol.cfd").get(8));
        // the nearest expiry, ten days ahead: within the 14 days that are red
        assertTrue(rows.get("ansys.mech").get(9).matches("\\d{4}-\\d\\d-\\d\\d \\(10 d\\)"), rows.get("ansys.mech").get(9));
        assertTrue(chrome.driver.findElement(By.xpath("//table[@id='pools']//tr[td[1]='ansys.mech']/td[10]")).getAttribute("class").contains("negative"));
        assertEquals("–", rows.get("abaqus.cae").get(9));
        assertEquals("right", chrome.driver.findElement(By.xpath("//table[@id='pools']//tr[td[1]='ansys.mech']/td[4]")).getCssValue("text-align"));
        // the filter and a sort
        chrome.driver.findElement(By.id("pools-filter")).sendKeys("abaq");
        assertEquals(1, chrome.driver.findElements(By.cssSelector("#pools tbody tr")).size());
        chrome.driver.findElement(By.id("pools-filter")).clear();
        chrome.driver.findElement(By.id("pools-filter")).sendKeys(" ");
        chrome.driver.findElement(By.cssSelector("#pools th[data-key=available] button")).click();
        assertEquals("abaqus.cae", chrome.driver.findElement(By.cssSelector("#pools tbody tr td")).getText(), "lowest available first");
        assertEquals(List.of(), chrome.consoleErrors(), "no error, no CSP violation");
    }

    @Test
    void anExpiredOrRefusedTokenLandsOnTheLogin() throws Exception {
        String expired = unsigned("{\"alg\":\"RS256\"}", "{\"exp\":" + (System.currentTimeMillis() / 1000 - 60) + "}");
        open(expired, "clusters");
        chrome.await(By.id("token-input"));
        assertTrue(chrome.driver.findElement(By.tagName("main")).getText().contains("expired"), chrome.driver.findElement(By.tagName("main")).getText());

        // looks valid to the page, the server refuses it (bad signature): 401 → login, token dropped
        String forged = reader();
        forged = forged.substring(0, forged.lastIndexOf('.') + 1) + "AAAA";
        open(forged, "clusters");
        chrome.await(By.id("token-input"));
        assertTrue(chrome.driver.findElement(By.tagName("main")).getText().contains("The server refused the token"));
        assertNull(chrome.script("return sessionStorage.getItem('lm.token')"));
        chrome.screenshot("login-refused");
    }

    @Test
    void aTokenWithoutThePermissionIsToldWhichOneIsMissing() throws Exception {
        open(api.token("dashboard", "license-manager:job:read"), "clusters");
        WebElement alert = chrome.await(By.cssSelector("[role=alert]"));
        assertTrue(alert.getText().contains("license-manager:status:read"), alert.getText());
        chrome.screenshot("forbidden");
    }

    @Test
    void swaggerUiShowsEveryOperationOfTheDocument() throws Exception {
        JsonObject doc = JsonParser.parseString(ApiRoutes.resource("lm/openapi.json")).getAsJsonObject();
        int operations = doc.getAsJsonObject("paths").entrySet().stream().mapToInt(e -> e.getValue().getAsJsonObject().size()).sum();
        chrome.driver.get(base + "/docs/");
        chrome.waiting().until(d -> d.findElements(By.cssSelector(".opblock")).size() == operations);
        assertFalse(chrome.driver.findElements(By.cssSelector("button.authorize")).isEmpty(), "Authorize takes a bearer token");
        chrome.screenshot("docs");
        assertEquals(List.of(), chrome.consoleErrors(), "no error, no CSP violation");
    }

    @Test
    void pagesCarryAStrictPolicyAndVersionedFilesAreCachedForAYear() throws Exception {
        HttpClient http = HttpClient.newHttpClient();
        HttpResponse<String> page = http.send(HttpRequest.newBuilder(URI.create(base + "/ui/")).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, page.statusCode());
        String csp = page.headers().firstValue("Content-Security-Policy").orElse("");
        assertTrue(csp.contains("script-src 'self'") && !csp.contains("unsafe") && csp.contains("default-src 'none'"), csp);
        assertEquals("no-cache", page.headers().firstValue("Cache-Control").orElse(""));
        Matcher asset = Pattern.compile("src=\"(assets/[0-9a-f]{12}/app\\.js)\"").matcher(page.body());
        assertTrue(asset.find(), page.body());
        for (String path : List.of(asset.group(1), "vendor/uplot/1.6.30/uPlot.iife.min.js")) {
            HttpResponse<String> f = http.send(HttpRequest.newBuilder(URI.create(base + "/ui/" + path)).build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(200, f.statusCode(), path);
            assertTrue(f.headers().firstValue("Cache-Control").orElse("").contains("max-age=31536000"), path);
            assertTrue(f.headers().firstValue("Content-Type").orElse("").contains("javascript"), path);
        }
        // an old release's asset path, a path out of the tree, and a missing file are 404
        for (String path : List.of("assets/000000000000/app.js", "vendor/uplot/1.6.30/../../../lm/openapi.json", "nothing")) {
            assertEquals(404, http.send(HttpRequest.newBuilder(URI.create(base + "/ui/" + path)).build(), HttpResponse.BodyHandlers.ofString()).statusCode(), path);
        }
        HttpResponse<String> bare = http.send(HttpRequest.newBuilder(URI.create(base + "/ui")).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(301, bare.statusCode());
    }

    @Test
    void aPhoneWidthScreenShowsTheSamePageWithoutSidewaysScrollingOfThePage() throws Exception {
        try (Chrome phone = new Chrome(390, 844)) {
            open(phone, reader(), "clusters");
            phone.await(By.id("clusters"));
            long bodyWidth = (Long) phone.script("return document.documentElement.scrollWidth");
            long viewport = (Long) phone.script("return window.innerWidth");
            assertTrue(bodyWidth <= viewport, "page " + bodyWidth + " px wide in a " + viewport + " px screen");
            phone.screenshot("clusters-phone");
            // a pool's page, with its chart and wide tables, scrolls the tables, not the page
            phone.driver.get(base + "/ui/#/pools/" + mechPool);
            assertTrue(points(phone, "pools/" + mechPool) > 0);
            bodyWidth = (Long) phone.script("return document.documentElement.scrollWidth");
            assertTrue(bodyWidth <= viewport, "pool page " + bodyWidth + " px wide in a " + viewport + " px screen");
            phone.screenshot("pool-phone");
        }
    }

    // ---------------------------------------------------------------- a pool's page

    /** Waits for the usage chart of the page whose address holds {@code inHash}; its number of points. */
    private static int points(Chrome c, String inHash) {
        String js = "var b = document.getElementById('usage-chart');"
                + " return location.hash.indexOf(arguments[0]) >= 0 && b && b.getAttribute('data-points') ? b.getAttribute('data-points') : null";
        try {
            return Integer.parseInt((String) c.waiting().until(d -> c.script(js, inHash)));
        } catch (org.openqa.selenium.TimeoutException e) {
            throw new AssertionError("no chart for " + inHash + " at " + c.driver.getCurrentUrl() + "; the page shows:\n"
                    + c.driver.findElement(By.tagName("body")).getText(), e);
        }
    }

    /** The fixture's hourly rollups of ansys.mech from since's hour to before until (what GET /reports/usage returns). */
    private static long rollups(String since, String until) throws Exception {
        return Long.parseLong(lm.db.Sql.text(api.ds, "SELECT count(*) FROM lm.usage_rollups WHERE product_feature = 'ansys.mech'"
                + " AND hour >= date_trunc('hour', " + since + ") AND hour < " + until));
    }

    private static List<List<String>> cells(String table) {
        return chrome.driver.findElements(By.cssSelector("#" + table + " tbody tr")).stream()
                .map(tr -> tr.findElements(By.tagName("td")).stream().map(WebElement::getText).collect(java.util.stream.Collectors.toList()))
                .collect(java.util.stream.Collectors.toList());
    }

    private static List<String> column(String table, int i) {
        return cells(table).stream().map(r -> r.get(i)).collect(java.util.stream.Collectors.toList());
    }

    @Test
    void aPoolsPageChartsItsHistoryAndShowsWhoHoldsAndWhoWasRefused() throws Exception {
        open(reader(), "pools");
        chrome.await(By.linkText("ansys.mech")).click();
        int day = points(chrome, "pools/" + mechPool);
        assertEquals(rollups("now() - interval '24 hours'", "now()"), day, "one point per hour of the last 24 h");
        assertTrue(day >= 23, "the fixture has every hour: " + day);
        // the uPlot instance itself: time plus six series, each with a point per hour, and the
        // used series' peak is the fixture's
        assertEquals(7L, chrome.script("return document.getElementById('usage-chart').uplot.series.length"));
        assertEquals((long) day, chrome.script("return document.getElementById('usage-chart').uplot.data[2].length"));
        assertEquals(Long.parseLong(lm.db.Sql.text(api.ds, "SELECT max(used_max) FROM lm.usage_rollups WHERE product_feature = 'ansys.mech'"
                + " AND hour >= date_trunc('hour', now() - interval '24 hours')")),
                chrome.script("return Math.max.apply(null, document.getElementById('usage-chart').uplot.data[2])"));
        assertFalse(chrome.driver.findElements(By.cssSelector("#usage-chart canvas")).isEmpty(), "drawn");

        // who holds it: the checkouts (most first), the job's booking, the recent denials of this license only
        chrome.await(By.cssSelector("#checkouts tbody tr"));
        assertEquals(List.of(List.of("bob", "ws17.example.org", "2,200", "0", "", "beta"), List.of("ana", "n01", "1,000", "1,000", "7", "alpha")),
                cells("checkouts").stream().map(r -> r.subList(0, 6)).collect(java.util.stream.Collectors.toList()));
        // since: bob's checkout was first seen by the pass that saw it now, ana's three hours before
        List<List<String>> held = cells("checkouts");
        assertEquals(held.get(0).get(7), held.get(0).get(6), "bob: since = seen");
        assertNotEquals(held.get(1).get(7), held.get(1).get(6), "ana: held for hours");
        chrome.await(By.cssSelector("#bookings tbody tr"));
        assertEquals(List.of("7", "alpha", "ana", "", "n01", "1,200"), cells("bookings").get(0).subList(0, 6));
        chrome.await(By.cssSelector("#pool-denials tbody tr"));
        // denials 1..30, every third abaqus.cae: the ten newest of ansys.mech, newest (1001) first
        assertEquals(List.of("1001", "1002", "1004", "1005", "1007", "1008", "1010", "1011", "1013", "1014"), column("pool-denials", 2));
        assertFalse(column("pool-denials", 2).contains("1003"), "abaqus.cae's denial is not this pool's");
        // shared by alpha and beta: the distribution
        assertEquals(List.of("alpha", "beta"), column("owners", 0));
        chrome.screenshot("pool");
        // the whole page in one picture: README's docs/dashboard.png
        chrome.driver.manage().window().setSize(new org.openqa.selenium.Dimension(1280, 2150));
        chrome.screenshot("pool-full");
        chrome.driver.manage().window().setSize(new org.openqa.selenium.Dimension(1280, 800));

        // the last 7 days, from the range links
        chrome.driver.findElement(By.linkText("Last 7 days")).click();
        assertEquals(rollups("now() - interval '168 hours'", "now()"), points(chrome, "range=7d"));

        // a custom range from the form: ten to eight days ago, whole hours of the browser's clock
        @SuppressWarnings("unchecked")
        List<String> range = (List<String>) chrome.script("var h = new Date(); h.setMinutes(0, 0, 0);"
                + " var p = function (n) { return String(n).padStart(2, '0'); };"
                + " var f = function (d) { return d.getFullYear() + '-' + p(d.getMonth() + 1) + '-' + p(d.getDate()) + 'T' + p(d.getHours()) + ':' + p(d.getMinutes()); };"
                + " var s = new Date(h.getTime() - 240 * 3600e3), u = new Date(h.getTime() - 192 * 3600e3);"
                + " document.getElementById('range-since').value = f(s); document.getElementById('range-until').value = f(u);"
                + " return [s.toISOString(), u.toISOString()];");
        chrome.driver.findElement(By.id("range-apply")).click();
        int custom = points(chrome, "since=");
        assertEquals(rollups("'" + range.get(0) + "'::timestamptz", "'" + range.get(1) + "'::timestamptz"), custom);
        assertEquals(48, custom, "two days of hours");
        assertEquals((long) custom, chrome.script("return document.getElementById('usage-chart').uplot.data[0].length"));
        chrome.screenshot("pool-custom-range");
        // who used it: from the checkouts to the Users page of this license
        chrome.driver.findElement(By.linkText("License-hours per user of ansys.mech →")).click();
        chrome.waiting().until(d -> d.findElements(By.cssSelector("#users tbody tr")).size() == 2);
        assertEquals(List.of("ana", "bob"), column("users", 0));
        assertEquals("ansys.mech", chrome.driver.findElement(By.id("users-search")).getAttribute("value"));
        assertEquals(List.of(), chrome.consoleErrors(), "no error, no CSP violation");
    }

    @Test
    void aPoolsPageShowsWhatTheTokenMayReadAndSaysWhatItMayNot() throws Exception {
        open(api.token("dashboard", "license-manager:feature:read"), "pools/" + mechPool);
        assertTrue(points(chrome, "pools/" + mechPool) > 0, "the chart needs feature:read only");
        WebElement refused = chrome.await(By.cssSelector("#bookings-section [role=alert]"));
        assertTrue(refused.getText().contains("license-manager:job:read"), refused.getText());
    }

    // ---------------------------------------------------------------- lists paged by the server

    @Test
    void theDenialsPageIsPagedSortedAndSearchedByTheServer() throws Exception {
        open(reader(), "denials");
        chrome.await(By.cssSelector("#denials tbody tr"));
        WebElement position = chrome.driver.findElement(By.id("denials-position"));
        assertEquals("Rows 1–25 of 30 · page 1 of 2", position.getText());
        List<String> first = column("denials", 3);
        assertEquals(25, first.size());
        assertEquals("1001", first.get(0), "newest refusal first");
        chrome.driver.findElement(By.id("denials-next")).click();
        chrome.waiting().until(d -> d.findElement(By.id("denials-position")).getText().contains("page 2"));
        assertEquals("Rows 26–30 of 30 · page 2 of 2", chrome.driver.findElement(By.id("denials-position")).getText());
        List<String> second = column("denials", 3);
        assertEquals(List.of("1026", "1027", "1028", "1029", "1030"), second, "the other rows");
        assertFalse(chrome.driver.findElement(By.id("denials-next")).isEnabled(), "no page 3");
        chrome.screenshot("denials-page-2");

        // sorting by a header is the server's, over all rows, back to page 1; the focus stays on the header
        chrome.driver.findElement(By.id("denials-sort-requested")).click();
        chrome.waiting().until(d -> "ascending".equals(d.findElement(By.cssSelector("#denials th[data-key=requested]")).getAttribute("aria-sort")));
        assertEquals("10", column("denials", 6).get(0));
        assertEquals("250", column("denials", 6).get(24));
        assertEquals("denials-sort-requested", chrome.script("return document.activeElement.id"));
        chrome.driver.switchTo().activeElement().sendKeys(org.openqa.selenium.Keys.ENTER);
        chrome.waiting().until(d -> "descending".equals(d.findElement(By.cssSelector("#denials th[data-key=requested]")).getAttribute("aria-sort")));
        assertEquals(List.of("300", "290", "280"), column("denials", 6).subList(0, 3));
        assertTrue(chrome.driver.getCurrentUrl().contains("sort=requested&asc=false"), chrome.driver.getCurrentUrl());

        // the search is the server's too
        chrome.driver.findElement(By.id("denials-search")).sendKeys("abaqus", org.openqa.selenium.Keys.ENTER);
        chrome.waiting().until(d -> d.findElement(By.id("denials-position")).getText().startsWith("Rows 1–10 of 10"));
        assertTrue(column("denials", 1).stream().allMatch("abaqus.cae"::equals));
        assertEquals(List.of(), chrome.consoleErrors(), "no error, no CSP violation");
    }

    @Test
    void theJobHistoryPageShowsEndedJobs() throws Exception {
        open(reader(), "jobs");
        chrome.await(By.cssSelector("#jobs tbody tr"));
        List<List<String>> rows = cells("jobs");
        assertEquals(List.of("501", "502", "503"), column("jobs", 2), "the most recently ended first");
        // Ended, Cluster, Job, User, Account, Lead host, Licenses, Started, Ran, Ended by
        assertEquals(List.of("alpha", "501", "carl", "proj1", "n01", "ansys.mech × 100"), rows.get(0).subList(1, 7));
        assertEquals("24 h", rows.get(0).get(8));
        assertEquals("epilog", rows.get(0).get(9));
        assertEquals("Rows 1–3 of 3 · page 1 of 1", chrome.driver.findElement(By.id("jobs-position")).getText());
        chrome.screenshot("job-history");
        assertEquals(List.of(), chrome.consoleErrors(), "no error, no CSP violation");
    }

    @Test
    void theUsersPageRanksLicenseHoursOverThePeriodChosen() throws Exception {
        open(reader(), "users");
        chrome.await(By.cssSelector("#users tbody tr"));
        // the last 7 days by default, most first
        assertEquals(List.of(List.of("ana", "ansys.mech", "2"), List.of("bob", "ansys.mech", "1")), cells("users"));
        assertEquals("Rows 1–2 of 2 · page 1 of 1", chrome.driver.findElement(By.id("users-position")).getText());
        assertEquals("page", chrome.driver.findElement(By.cssSelector("#nav a[data-page=users]")).getAttribute("aria-current"));
        // from twelve days ago (a day of the browser's calendar) to today: ana's ten hours then count too
        chrome.script("var d = new Date(Date.now() - 12 * 86400e3), t = new Date();"
                + " function f(x) { return x.getFullYear() + '-' + String(x.getMonth() + 1).padStart(2, '0') + '-' + String(x.getDate()).padStart(2, '0'); }"
                + " document.getElementById('users-from').value = f(d); document.getElementById('users-to').value = f(t);");
        chrome.driver.findElement(By.id("users-search-button")).click();
        chrome.waiting().until(d -> d.findElement(By.cssSelector("#users tbody tr td.num")).getText().equals("12"));
        assertEquals(List.of("12", "1"), column("users", 2));
        assertTrue(chrome.script("return location.hash").toString().contains("from="), "the period is in the address");
        chrome.screenshot("users");
        // a period that ends before the data: nothing
        chrome.script("document.getElementById('users-to').value = document.getElementById('users-from').value;");
        chrome.driver.findElement(By.id("users-search-button")).click();
        chrome.waiting().until(d -> d.findElement(By.id("users-position")).getText().startsWith("No rows"));
        // the denials page takes the same period: none of its 30 denials is from tomorrow on
        chrome.script("var x = new Date(Date.now() + 86400e3); location.hash = '#/denials?from=' + x.getFullYear() + '-'"
                + " + String(x.getMonth() + 1).padStart(2, '0') + '-' + String(x.getDate()).padStart(2, '0')");
        chrome.waiting().until(d -> d.findElement(By.id("denials-position")).getText().startsWith("No rows"));
        assertEquals(List.of(), chrome.consoleErrors(), "no error, no CSP violation");
    }

    private static String unsigned(String header, String payload) {
        Base64.Encoder b = Base64.getUrlEncoder().withoutPadding();
        return b.encodeToString(header.getBytes(StandardCharsets.UTF_8)) + "." + b.encodeToString(payload.getBytes(StandardCharsets.UTF_8)) + ".x";
    }
}
