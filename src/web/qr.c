/* The appointment code as a QR code: libqrencode's modules drawn as one SVG path of unit squares. */
#include "internal.h"

#include <qrencode.h>
#include <string.h>

#define QUIET 4 /* the quiet zone the standard asks for, in modules */

char *web_qr_svg(h2o_mem_pool_t *pool, const char *text, const char *label)
{
    QRcode *qr = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
    if (qr == NULL)
        return NULL;
    int w = qr->width, size = w + 2 * QUIET;
    struct wbuf b;
    wb_init(&b, pool, 4096 + (size_t)w * (size_t)w * 12);
    wb_fmt(&b,
           "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"qr\" viewBox=\"0 0 %d %d\" role=\"img\" "
           "aria-label=\"",
           size, size);
    wb_esc(&b, label);
    wb_fmt(&b,
           "\" shape-rendering=\"crispEdges\"><rect width=\"%d\" height=\"%d\" fill=\"#fff\"/><path "
           "fill=\"#000\" d=\"",
           size, size);
    for (int y = 0; y < w; y++) {
        for (int x = 0; x < w; x++) {
            if (qr->data[y * w + x] & 1) {
                /* a run of dark modules on this row becomes one rectangle */
                int run = 1;
                while (x + run < w && (qr->data[y * w + x + run] & 1))
                    run++;
                wb_fmt(&b, "M%d %dh%dv1h-%dz", x + QUIET, y + QUIET, run, run);
                x += run - 1;
            }
        }
    }
    wb_raw(&b, "\"/></svg>");
    QRcode_free(qr);
    return b.p;
}
