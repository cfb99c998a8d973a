package lm.agent.servers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ParsersTest {
    @Test
    void eachTypeHasItsOwnParser() {
        assertEquals(FlexLmParser.class, Parsers.forType("flexlm").getClass());
        assertEquals(RlmParser.class, Parsers.forType("rlm").getClass());
        assertEquals(LsDynaParser.class, Parsers.forType("lsdyna").getClass());
        assertEquals(LmxParser.class, Parsers.forType("lmx").getClass());
        assertEquals(OLicenseParser.class, Parsers.forType("olicense").getClass());
        assertEquals(DslsParser.class, Parsers.forType("dsls").getClass());
    }

    @Test
    void unknownTypeNamesTheAllowedOnes() {
        for (String bad : new String[] {"FlexLM", "lmstat", "", null}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Parsers.forType(bad));
            assertTrue(e.getMessage().contains("flexlm, rlm, lsdyna, lmx, olicense, dsls"), e.getMessage());
        }
        assertThrows(IllegalArgumentException.class, () -> Parsers.commandFor("sentinel", Map.of(), "h", 1));
        assertThrows(IllegalArgumentException.class, () -> Parsers.stdinFor("sentinel", "h", 1));
    }

    @Test
    void commandsUseBareToolNamesByDefault() {
        Map<String, String> none = Map.of();
        assertEquals(List.of("lmutil", "lmstat", "-c", "27000@lic1.example.com", "-a"),
                Parsers.commandFor("flexlm", none, "lic1.example.com", 27000));
        assertEquals(List.of("rlmutil", "rlmstat", "-c", "5053@lic2", "-a", "-p"),
                Parsers.commandFor("rlm", none, "lic2", 5053));
        assertEquals(List.of("lstc_qrun", "-s", "31010@lic3", "-R"),
                Parsers.commandFor("lsdyna", none, "lic3", 31010));
        assertEquals(List.of("lmxendutil", "-licstat", "-host", "lic4", "-port", "6200"),
                Parsers.commandFor("lmx", none, "lic4", 6200));
        assertEquals(List.of("olixtool", "-sv", "lic5:31212"), Parsers.commandFor("olicense", none, "lic5", 31212));
        assertEquals(List.of("DSLicSrv", "-admin"), Parsers.commandFor("dsls", none, "lic6", 4085));
    }

    @Test
    void toolPathsAreLookedUpByType() {
        Map<String, String> paths = Map.of("flexlm", "/opt/flexlm/bin/lmutil", "dsls", "/opt/ds/DSLicSrv");
        assertEquals("/opt/flexlm/bin/lmutil", Parsers.commandFor("flexlm", paths, "lic1", 27000).get(0));
        assertEquals("/opt/ds/DSLicSrv", Parsers.commandFor("dsls", paths, "lic1", 4085).get(0));
        assertEquals("rlmutil", Parsers.commandFor("rlm", paths, "lic1", 5053).get(0));
    }

    @Test
    void onlyDslsReadsAScriptOnStdin() {
        assertEquals("connect lic6.example.com 4085\ngetLicenseUsage -csv\nquit\n",
                Parsers.stdinFor("dsls", "lic6.example.com", 4085));
        for (String type : List.of("flexlm", "rlm", "lsdyna", "lmx", "olicense")) {
            assertNull(Parsers.stdinFor(type, "lic1", 1000), type);
        }
    }

    @Test
    void hostsAndPortsThatCouldInjectAreRejected() {
        for (String host : new String[] {"-a", "lic1 -a", "lic1\nquit", "", null, "lic;rm"}) {
            assertThrows(IllegalArgumentException.class, () -> Parsers.commandFor("flexlm", Map.of(), host, 27000),
                    String.valueOf(host));
            assertThrows(IllegalArgumentException.class, () -> Parsers.stdinFor("dsls", host, 4085),
                    String.valueOf(host));
        }
        assertThrows(IllegalArgumentException.class, () -> Parsers.commandFor("lmx", Map.of(), "lic", 0));
        assertThrows(IllegalArgumentException.class, () -> Parsers.commandFor("lmx", Map.of(), "lic", 65536));
        assertEquals("27000@10.0.0.5", Parsers.commandFor("flexlm", Map.of(), "10.0.0.5", 27000).get(3));
    }

    @Test
    void decodeKeepsUtf8AndFallsBackToLatin1() {
        assertEquals("Fjällström", Parsers.decode("Fjällström".getBytes(StandardCharsets.UTF_8)));
        assertEquals("Fjällström", Parsers.decode("Fjällström".getBytes(StandardCharsets.ISO_8859_1)));
        assertEquals("", Parsers.decode(new byte[0]));
    }
}
