package lm.ui;

import static org.junit.jupiter.api.Assertions.assertEquals;
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
import java.sql.Connection;
import java.sql.Statement;
import java.util.Base64;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import lm.auth.Roles;
import lm.server.ApiRoutes;
import lm.testing.Chrome;
import lm.testing.TestApi;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.openqa.selenium.By;
import org.openqa.selenium.WebElement;

/** The dashboard and the API docs in a real browser (headless chromium), on a known data set. */
class UiTest {
    private static TestApi api;
    private static Chrome chrome;
    private static String base;

    @BeforeAll
    static void setUp() throws Exception {
        api = new TestApi();
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
        }
        chrome = new Chrome(1280, 800);
    }

    @AfterAll
    static void tearDown() {
        if (chrome != null) {
            chrome.close();
        }
        api.close();
    }

    private static String reader() {
        return api.token("dashboard", Roles.permissions(Roles.READER).toArray(String[]::new));
    }

    private void open(String fragment) {
        // a fresh tab state: no token left from another test
        chrome.driver.get(base + "/ui/");
        chrome.script("sessionStorage.clear()");
        chrome.consoleErrors();
        // from another page, so that this is a full load and not a change of the fragment
        chrome.driver.get("about:blank");
        chrome.driver.get(base + "/ui/" + fragment);
    }

    @Test
    void withoutATokenThePageShowsTheLogin() throws Exception {
        open("#/clusters");
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

    @Test
    void theTokenInTheFragmentIsMovedOutOfTheAddressBarAndTheClustersAreShown() throws Exception {
        open("#token=" + reader() + "&page=clusters");
        WebElement table = chrome.await(By.id("clusters"));
        assertFalse(chrome.driver.getCurrentUrl().contains("token"), chrome.driver.getCurrentUrl());
        assertTrue(((String) chrome.script("return sessionStorage.getItem('lm.token')")).startsWith("ey"));
        List<WebElement> rows = table.findElements(By.cssSelector("tbody tr"));
        assertEquals(2, rows.size());
        assertEquals("alpha", rows.get(0).findElements(By.tagName("td")).get(0).getText());
        assertEquals("ok", rows.get(0).findElements(By.tagName("td")).get(4).getText());
        assertEquals("beta", rows.get(1).findElements(By.tagName("td")).get(0).getText());
        assertEquals("2 h", rows.get(1).findElements(By.tagName("td")).get(2).getText());
        assertEquals("late", rows.get(1).findElements(By.tagName("td")).get(4).getText());
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
        open("#token=" + reader());
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
        open("#token=" + expired + "&page=clusters");
        chrome.await(By.id("token-input"));
        assertTrue(chrome.driver.findElement(By.tagName("main")).getText().contains("expired"), chrome.driver.findElement(By.tagName("main")).getText());

        // looks valid to the page, the server refuses it (bad signature): 401 → login, token dropped
        String forged = reader();
        forged = forged.substring(0, forged.lastIndexOf('.') + 1) + "AAAA";
        open("#token=" + forged + "&page=clusters");
        chrome.await(By.id("token-input"));
        assertTrue(chrome.driver.findElement(By.tagName("main")).getText().contains("The server refused the token"));
        assertNull(chrome.script("return sessionStorage.getItem('lm.token')"));
        chrome.screenshot("login-refused");
    }

    @Test
    void aTokenWithoutThePermissionIsToldWhichOneIsMissing() throws Exception {
        open("#token=" + api.token("dashboard", "license-manager:job:read") + "&page=clusters");
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
            phone.driver.get(base + "/ui/#token=" + reader() + "&page=clusters");
            phone.await(By.id("clusters"));
            long bodyWidth = (Long) phone.script("return document.documentElement.scrollWidth");
            long viewport = (Long) phone.script("return window.innerWidth");
            assertTrue(bodyWidth <= viewport, "page " + bodyWidth + " px wide in a " + viewport + " px screen");
            phone.screenshot("clusters-phone");
        }
    }

    private static String unsigned(String header, String payload) {
        Base64.Encoder b = Base64.getUrlEncoder().withoutPadding();
        return b.encodeToString(header.getBytes(StandardCharsets.UTF_8)) + "." + b.encodeToString(payload.getBytes(StandardCharsets.UTF_8)) + ".x";
    }
}
