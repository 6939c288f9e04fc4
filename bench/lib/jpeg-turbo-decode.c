/* A second reading of JPEG stripes for bench/rd.mjs: libjpeg-turbo (the system libjpeg62-turbo,
 * the library Chromium's decoder and most viewers build on) with its defaults: accurate integer
 * IDCT (JDCT_ISLOW), fancy (smooth) chroma upsampling, RGB out.
 *
 *   cc -O2 -o jpeg-turbo-decode jpeg-turbo-decode.c -ljpeg
 *   jpeg-turbo-decode a.jpg b.jpg ... > out
 *
 * For each file: u32 BE width, u32 BE height, then width*height*3 bytes R G B. Exit 1 on error. */
#include <stdio.h>
#include <stdlib.h>
#include <setjmp.h>
#include <jpeglib.h>

struct err { struct jpeg_error_mgr pub; jmp_buf jump; };

static void on_error(j_common_ptr c) {
  struct err *e = (struct err *)c->err;
  char msg[JMSG_LENGTH_MAX];
  (*c->err->format_message)(c, msg);
  fprintf(stderr, "jpeg-turbo-decode: %s\n", msg);
  longjmp(e->jump, 1);
}

static void be32(unsigned v) {
  unsigned char b[4] = { v >> 24, v >> 16, v >> 8, v };
  fwrite(b, 1, 4, stdout);
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    FILE *f = fopen(argv[i], "rb");
    if (!f) { perror(argv[i]); return 1; }
    struct jpeg_decompress_struct d;
    struct err e;
    d.err = jpeg_std_error(&e.pub);
    e.pub.error_exit = on_error;
    if (setjmp(e.jump)) { jpeg_destroy_decompress(&d); fclose(f); return 1; }
    jpeg_create_decompress(&d);
    jpeg_stdio_src(&d, f);
    jpeg_read_header(&d, TRUE);
    d.out_color_space = JCS_RGB;
    d.dct_method = JDCT_ISLOW;
    d.do_fancy_upsampling = TRUE;
    jpeg_start_decompress(&d);
    be32(d.output_width);
    be32(d.output_height);
    size_t stride = (size_t)d.output_width * 3;
    unsigned char *row = malloc(stride);
    while (d.output_scanline < d.output_height) {
      JSAMPROW r = row;
      jpeg_read_scanlines(&d, &r, 1);
      fwrite(row, 1, stride, stdout);
    }
    free(row);
    jpeg_finish_decompress(&d);
    jpeg_destroy_decompress(&d);
    fclose(f);
  }
  return fflush(stdout) == 0 ? 0 : 1;
}
