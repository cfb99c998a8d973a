package lm.ui;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.sql.Connection;
import java.sql.Statement;
import java.util.List;
import java.util.Map;
import lm.auth.AuthSettings;
import lm.auth.Roles;
import lm.auth.UnverifiedClaims;
import lm.testing.Chrome;
import lm.testing.Keycloak;
import lm.testing.TestApi;
import org.junit.jupiter.api.Test;
import org.openqa.selenium.By;

/**
 * A person logs in to the dashboard at a real Keycloak: authorization code with PKCE through
 * Keycloak's own login form, back to the page asked for, with a token of that realm.
 */
class UiLoginTest {
    @Test
    void aPersonLogsInAtTheIdentityProviderAndSeesThePageAskedFor() throws Exception {
        Keycloak kc = Keycloak.get();
        String issuer = kc.realm("dashboard");
        kc.user("dashboard", "carol", "carol-pw");
        AuthSettings settings = new AuthSettings(Files.createTempDirectory("lm-keys").resolve("jwks.json"), "lm-local", issuer,
                "permissions", "lm-api", null, "lm-dashboard");
        try (TestApi api = new TestApi(settings); Chrome chrome = new Chrome(1280, 800)) {
            String base = "http://127.0.0.1:" + api.port() + "/lm";
            kc.browserClient("dashboard", "lm-dashboard", base + "/ui/*",
                    Keycloak.permissionsMapper(Roles.permissions(Roles.READER).toArray(new String[0])), Keycloak.audienceMapper("lm-api"));
            try (Connection c = api.ds.getConnection(); Statement st = c.createStatement()) {
                st.execute("INSERT INTO lm.cluster_statuses (cluster_client_id, interval, last_reported) VALUES ('gamma', 60, now())");
            }

            chrome.driver.get(base + "/ui/#/clusters");
            chrome.await(By.id("oidc-login")).click();
            // Keycloak's own form, as a person fills it in
            chrome.await(By.id("username")).sendKeys("carol");
            chrome.driver.findElement(By.id("password")).sendKeys("carol-pw");
            chrome.screenshot("login-keycloak");
            chrome.driver.findElement(By.id("kc-login")).click();

            chrome.await(By.id("clusters"));
            assertEquals(base + "/ui/#/clusters", chrome.driver.getCurrentUrl(), "the code and state are gone from the address bar");
            assertEquals("gamma", chrome.driver.findElement(By.cssSelector("#clusters tbody td")).getText());
            String token = (String) chrome.script("return sessionStorage.getItem('lm.token')");
            assertEquals(issuer, UnverifiedClaims.of(token).get("iss").getAsString());
            // the token came in the answer to a POST: no address the tab opened holds it (the
            // redirect held a one-time code, spent by now and replaced in the history), nor any
            // request the page made
            String secret = token.substring(token.lastIndexOf('.') + 1);
            @SuppressWarnings("unchecked")
            List<Map<String, Object>> entries = (List<Map<String, Object>>) chrome.driver.executeCdpCommand("Page.getNavigationHistory", Map.of()).get("entries");
            assertTrue(entries.stream().anyMatch(e -> String.valueOf(e.get("url")).contains("/protocol/openid-connect/auth?")),
                    "the way through the identity provider is in the history: " + entries);
            assertFalse(entries.toString().contains(secret), entries.toString());
            assertFalse(String.valueOf(chrome.script("return performance.getEntriesByType('resource').map(function (e) { return e.name; }).join(' ')"))
                    .contains(secret));
            assertEquals(List.of(), chrome.consoleErrors(), "no error, no CSP violation");
            assertTrue(chrome.script("return sessionStorage.getItem('lm.pkce')") == null, "the PKCE verifier is dropped");
            chrome.screenshot("clusters-after-login");
        }
    }
}
