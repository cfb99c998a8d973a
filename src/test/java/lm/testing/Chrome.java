package lm.testing;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.logging.Level;
import java.util.stream.Collectors;
import org.openqa.selenium.Dimension;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.TakesScreenshot;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.logging.LogEntry;
import org.openqa.selenium.logging.LogType;
import org.openqa.selenium.logging.LoggingPreferences;
import org.openqa.selenium.support.ui.WebDriverWait;

/**
 * A real, headless browser for the dashboard tests: Debian's chromium and chromium-driver,
 * installed by the harness when missing. Selenium Manager never runs (the driver's path is
 * given), so nothing is downloaded from the internet.
 */
public final class Chrome implements AutoCloseable {
    public final ChromeDriver driver;
    private final ChromeDriverService service;

    public Chrome(int width, int height) {
        this(width, height, null);
    }

    /**
     * A browser whose profile (history database and all) is {@code profile}, to be read after
     * {@link #close()}; null: a profile of chromedriver's own, removed with it.
     */
    public Chrome(int width, int height, Path profile) {
        Path chromium = DebianPackages.ensure("chromium", "chromium");
        Path chromedriver = DebianPackages.ensure("chromedriver", "chromium-driver");
        System.setProperty("SE_OFFLINE", "true");
        service = new ChromeDriverService.Builder().usingDriverExecutable(new File(chromedriver.toString()))
                .usingAnyFreePort().build();
        ChromeOptions options = new ChromeOptions();
        options.setBinary(chromium.toString());
        options.addArguments("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=" + width + "," + height, "--lang=en-US");
        if (profile != null) {
            options.addArguments("--user-data-dir=" + profile);
        }
        LoggingPreferences logs = new LoggingPreferences();
        logs.enable(LogType.BROWSER, Level.ALL);
        options.setCapability("goog:loggingPrefs", logs);
        driver = new ChromeDriver(service, options);
        driver.manage().window().setSize(new Dimension(width, height));
        driver.manage().timeouts().pageLoadTimeout(Duration.ofSeconds(60));
    }

    public WebDriverWait waiting() {
        return new WebDriverWait(driver, Duration.ofSeconds(30));
    }

    /**
     * The console's errors since the last call (a Content-Security-Policy violation, a script
     * error), leaving out the failed requests the page handles itself (a 401 or 403 it shows).
     */
    public List<String> consoleErrors() {
        return driver.manage().logs().get(LogType.BROWSER).getAll().stream()
                .filter(e -> e.getLevel().intValue() >= Level.SEVERE.intValue()).map(LogEntry::getMessage)
                .filter(m -> !m.matches("(?s).*/lm/[a-z_]+(\\?\\S*)? - Failed to load resource: the server responded with a status of 40[134].*"))
                .collect(Collectors.toList());
    }

    /** Waits for the element; on a timeout says what the page showed instead. */
    public org.openqa.selenium.WebElement await(org.openqa.selenium.By by) {
        try {
            return waiting().until(org.openqa.selenium.support.ui.ExpectedConditions.presenceOfElementLocated(by));
        } catch (org.openqa.selenium.TimeoutException e) {
            throw new AssertionError("no " + by + " at " + driver.getCurrentUrl() + "; the page shows:\n"
                    + driver.findElement(org.openqa.selenium.By.tagName("body")).getText() + "\nconsole: " + consoleErrors(), e);
        }
    }

    /** Saves what the page looks like now as target/ui/NAME.png (the closing notes describe them). */
    public Path screenshot(String name) throws IOException {
        Path out = Path.of("target/ui", name + ".png");
        Files.createDirectories(out.getParent());
        Files.write(out, ((TakesScreenshot) driver).getScreenshotAs(OutputType.BYTES));
        return out;
    }

    public Object script(String js, Object... args) {
        return driver.executeScript(js, args);
    }

    @Override
    public void close() {
        try {
            driver.quit();
        } finally {
            service.stop();
        }
    }
}
