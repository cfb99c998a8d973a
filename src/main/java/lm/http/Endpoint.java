package lm.http;

/** A handler: parse → one SQL call → JSON out. Runs on a worker thread, never the IO thread. */
@FunctionalInterface
public interface Endpoint {
    Reply handle(Call call) throws Exception;
}
