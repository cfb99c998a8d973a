package lm.bench;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * One keep-alive HTTP/1.1 connection with blocking IO. A load generator this small costs the
 * two shared cores far less than java.net.http's machinery, so the server gets the CPU; and it
 * hides nothing (no silent retry, no pooling), which the crash and stop tests need to tell a
 * refused connection from a reset one.
 */
public final class LoadClient implements AutoCloseable {
    private final Socket socket;
    private final OutputStream out;
    private final InputStream in;
    private final String hostHeader;
    private boolean open = true;

    /** One response: its status, its headers (names in lower case) and its body. */
    public record Response(int status, Map<String, String> headers, String body) {
        public String header(String name) {
            return headers.get(name.toLowerCase(Locale.ROOT));
        }
    }

    /** @throws java.net.ConnectException when nothing listens there */
    public LoadClient(String host, int port) throws IOException {
        socket = new Socket(host, port);
        socket.setTcpNoDelay(true);
        out = socket.getOutputStream();
        in = new BufferedInputStream(socket.getInputStream(), 16384);
        hostHeader = host + ":" + port;
    }

    /** Sends one request, reads the whole response, returns its status. */
    public int send(String method, String path, String token, String body) throws IOException {
        return request(method, path, token, body).status();
    }

    /** Sends one request and reads the whole response; after "Connection: close" the client is closed. */
    public Response request(String method, String path, String token, String body) throws IOException {
        byte[] b = body == null ? new byte[0] : body.getBytes(StandardCharsets.UTF_8);
        String head = method + " " + path + " HTTP/1.1\r\nHost: " + hostHeader + "\r\nAuthorization: Bearer " + token
                + "\r\nContent-Type: application/json\r\nContent-Length: " + b.length + "\r\n\r\n";
        out.write(head.getBytes(StandardCharsets.US_ASCII));
        out.write(b);
        out.flush();
        String status = line();
        int code = Integer.parseInt(status.substring(9, 12));
        Map<String, String> headers = new TreeMap<>();
        for (String h = line(); !h.isEmpty(); h = line()) {
            int colon = h.indexOf(':');
            headers.put(h.substring(0, colon).strip().toLowerCase(Locale.ROOT), h.substring(colon + 1).strip());
        }
        int length = Integer.parseInt(headers.getOrDefault("content-length", "0"));
        String text = new String(in.readNBytes(length), StandardCharsets.UTF_8);
        if ("close".equalsIgnoreCase(headers.get("connection"))) {
            close();
        }
        return new Response(code, headers, text);
    }

    /** False once the server said "Connection: close" (or close was called): open a new one. */
    public boolean isOpen() {
        return open;
    }

    private String line() throws IOException {
        StringBuilder sb = new StringBuilder();
        int c;
        while ((c = in.read()) != '\n') {
            if (c < 0) {
                throw new IOException("connection closed");
            }
            if (c != '\r') {
                sb.append((char) c);
            }
        }
        return sb.toString();
    }

    @Override
    public void close() throws IOException {
        open = false;
        socket.close();
    }
}
