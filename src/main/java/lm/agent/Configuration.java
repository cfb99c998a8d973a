package lm.agent;

import java.util.List;

/**
 * One configuration of this cluster as {@code GET /configurations/by_client_id} returns it: its
 * license servers in the order to try them, and the features to report. Fields the agent doesn't
 * use are ignored, so the server can add some without breaking older agents.
 */
record Configuration(long id, String name, String type, List<Feature> features, List<LicenseServer> licenseServers) {

    record Feature(long id, String name, Product product) {
        /** The license's name in reports and in Slurm before the {@code @type}: {@code product.feature}. */
        String productFeature() {
            return product.name() + "." + name;
        }
    }

    record Product(long id, String name) {}

    record LicenseServer(String host, int port) {
        @Override
        public String toString() {
            return host + ":" + port;
        }
    }

    Configuration {
        features = features == null ? List.of() : List.copyOf(features);
        licenseServers = licenseServers == null ? List.of() : List.copyOf(licenseServers);
    }
}
