package ioi.lens.hub;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A minimal HTTP proxy on 127.0.0.1 for tests, written by hand because the point is to see exactly
 * what a client sends a proxy: {@code CONNECT host:port} tunnels (what HTTPS through a proxy uses)
 * and absolute-form requests ({@code GET http://host/path}) forwarded one per connection. Every
 * request line is recorded with its {@code Proxy-Authorization}; when {@code requiredAuthorization}
 * is set, anything else is answered 407 as a real proxy would.
 */
final class LoopbackProxy implements AutoCloseable {
    /** What the proxy was asked: {@code CONNECT 127.0.0.1:5000} or {@code GET http://...}. */
    record Seen(String method, String target, String proxyAuthorization) {}

    private final ServerSocket server;
    private final String requiredAuthorization;
    private final List<Seen> seen = new CopyOnWriteArrayList<>();
    private final List<Socket> open = new CopyOnWriteArrayList<>();

    LoopbackProxy(String requiredAuthorization) throws IOException {
        this.requiredAuthorization = requiredAuthorization;
        server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        Thread accept = new Thread(this::acceptLoop, "loopback-proxy");
        accept.setDaemon(true);
        accept.start();
    }

    /** {@code 127.0.0.1:port}. */
    String address() {
        return "127.0.0.1:" + server.getLocalPort();
    }

    List<Seen> seen() {
        return List.copyOf(seen);
    }

    @Override
    public void close() throws IOException {
        server.close();
        for (Socket s : open) {
            s.close();
        }
    }

    private void acceptLoop() {
        while (!server.isClosed()) {
            try {
                Socket client = server.accept();
                open.add(client);
                Thread t = new Thread(() -> serve(client), "loopback-proxy-conn");
                t.setDaemon(true);
                t.start();
            } catch (IOException e) {
                return; // closed
            }
        }
    }

    private void serve(Socket client) {
        try (client) {
            InputStream in = client.getInputStream();
            OutputStream out = client.getOutputStream();
            List<String> head = readHead(in);
            if (head.isEmpty()) {
                return;
            }
            String[] line = head.get(0).split(" ");
            String auth = header(head, "Proxy-Authorization");
            seen.add(new Seen(line[0], line[1], auth));
            if (requiredAuthorization != null && !requiredAuthorization.equals(auth)) {
                out.write(("HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"test\"\r\n"
                        + "Content-Length: 0\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
                out.flush();
                return;
            }
            if (line[0].equals("CONNECT")) {
                String[] hostPort = line[1].split(":");
                try (Socket upstream = new Socket(hostPort[0], Integer.parseInt(hostPort[1]))) {
                    open.add(upstream);
                    out.write("HTTP/1.1 200 Connection established\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                    out.flush();
                    pipeBothWays(client, upstream);
                }
                return;
            }
            URI uri = URI.create(line[1]);
            try (Socket upstream = new Socket(uri.getHost(), uri.getPort())) {
                open.add(upstream);
                StringBuilder req = new StringBuilder(line[0] + " " + uri.getRawPath()
                        + (uri.getRawQuery() == null ? "" : "?" + uri.getRawQuery()) + " HTTP/1.1\r\n");
                for (String h : head.subList(1, head.size())) {
                    String name = h.substring(0, Math.max(0, h.indexOf(':'))).strip().toLowerCase(Locale.ROOT);
                    if (!name.equals("proxy-authorization") && !name.equals("proxy-connection") && !name.equals("connection")) {
                        req.append(h).append("\r\n");
                    }
                }
                req.append("Connection: close\r\n\r\n");
                upstream.getOutputStream().write(req.toString().getBytes(StandardCharsets.ISO_8859_1));
                upstream.getOutputStream().flush();
                upstream.getInputStream().transferTo(out); // the origin closes after one answer
                out.flush();
            }
        } catch (IOException e) {
            // a side went away
        }
    }

    private static void pipeBothWays(Socket a, Socket b) throws IOException {
        Thread up = new Thread(() -> {
            try {
                a.getInputStream().transferTo(b.getOutputStream());
            } catch (IOException ignored) {
                // closed
            } finally {
                try {
                    b.shutdownOutput();
                } catch (IOException ignored) {
                    // closed
                }
            }
        }, "loopback-proxy-up");
        up.setDaemon(true);
        up.start();
        try {
            b.getInputStream().transferTo(a.getOutputStream());
        } catch (IOException ignored) {
            // closed
        }
    }

    /** The request line and header lines, up to the empty line (ISO-8859-1). */
    private static List<String> readHead(InputStream in) throws IOException {
        List<String> lines = new ArrayList<>();
        ByteArrayOutputStream cur = new ByteArrayOutputStream();
        for (int c; (c = in.read()) >= 0; ) {
            if (c == '\n') {
                String l = cur.toString(StandardCharsets.ISO_8859_1);
                l = l.endsWith("\r") ? l.substring(0, l.length() - 1) : l;
                if (l.isEmpty()) {
                    return lines;
                }
                lines.add(l);
                cur.reset();
            } else {
                cur.write(c);
            }
        }
        return lines;
    }

    private static String header(List<String> head, String name) {
        for (String h : head.subList(1, head.size())) {
            int colon = h.indexOf(':');
            if (colon > 0 && h.substring(0, colon).strip().equalsIgnoreCase(name)) {
                return h.substring(colon + 1).strip();
            }
        }
        return null;
    }
}
