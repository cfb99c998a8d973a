package lm.server;

import java.io.IOException;
import javax.sql.DataSource;
import lm.auth.AuthSettings;
import lm.auth.Authenticator;
import lm.config.ServerSettings;
import lm.db.Database;
import lm.http.ApiServer;

/** A running lm-server: its database (maybe embedded), its authenticator and its HTTP listener. */
public final class LmServer implements AutoCloseable {
    private final Database database;
    private final ApiServer api;
    private final Authenticator auth;

    private LmServer(Database database, ApiServer api, Authenticator auth) {
        this.database = database;
        this.api = api;
        this.auth = auth;
    }

    public static AuthSettings authSettings(ServerSettings s) {
        return new AuthSettings(s.authKeys(), s.authLocalIssuer(), s.authIssuer(), s.authPermissionsClaim(), s.authAudience(),
                java.time.Duration.ofSeconds(s.prologTokenTtl()));
    }

    public static LmServer start(ServerSettings s) throws IOException {
        Authenticator auth = new Authenticator(authSettings(s));
        Database db = Database.open(s.databaseUrl(), s.databaseUser(), s.databasePassword(), s.databasePoolSize(),
                s.stateDir().resolve("pg"));
        try {
            auth.checkRevocations(db.dataSource());
            ApiServer api = new ApiServer(s.httpHost(), s.httpPort(), ApiRoutes.all(db.dataSource(), auth), auth);
            api.start();
            return new LmServer(db, api, auth);
        } catch (RuntimeException e) {
            db.close();
            throw e;
        }
    }

    /** For tests and benchmarks: an API over an existing (migrated) database. */
    public static ApiServer serve(DataSource ds, Authenticator auth, String host, int port) {
        auth.checkRevocations(ds);
        ApiServer api = new ApiServer(host, port, ApiRoutes.all(ds, auth), auth);
        api.start();
        return api;
    }

    public int port() {
        return api.port();
    }

    public Authenticator auth() {
        return auth;
    }

    public Database database() {
        return database;
    }

    @Override
    public void close() {
        api.close();
        database.close();
    }
}
