package lm.agent.servers;

import java.util.List;

/** Every feature one status-tool run reported, in the order the server printed them. */
public record ServerReport(List<FeatureUsage> features) {
    public ServerReport {
        features = List.copyOf(features);
    }
}
